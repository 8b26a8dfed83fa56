//! Fuzzes every parser and pure check of coconut-abi: none may panic, and whatever a parser
//! accepts must re-encode to the same bytes (one spelling per value).
#![no_main]

use coconut_abi::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 8 {
        0 => {
            if let Ok(aid) = Aid::parse(rest) {
                assert_eq!(aid.to_string().as_bytes(), rest);
            }
        }
        1 => {
            if let Ok((id, scope)) = parse_capability(rest) {
                let mut text = id.name().as_bytes().to_vec();
                if !scope.is_empty() {
                    text.push(b':');
                    text.extend_from_slice(scope);
                }
                assert_eq!(text, rest);
            }
            let (a, b) = rest.split_at(rest.len() / 2);
            let _ = covers(a, b);
        }
        2 => {
            if let Ok((h, detail)) = decode_event(rest) {
                let mut again = encode_event_header(&h).to_vec();
                again.extend_from_slice(detail.as_bytes());
                assert_eq!(again, rest);
            }
        }
        3 => {
            if let Ok(h) = decode_row_header(rest) {
                assert_eq!(&encode_row_header(&h)[..], &rest[..72]);
            }
        }
        4 => {
            if let Ok(a) = AgentSpawnArgs::from_user_bytes(rest) {
                assert_eq!(&a.to_bytes()[..], &rest[..48]);
                let _ = check_spawn_args(&a);
            }
            if let Ok(f) = AgentAuditFilter::from_user_bytes(rest) {
                let _ = check_audit_filter(&f);
            }
            if let Ok(m) = AgentMemRequest::from_user_bytes(rest) {
                let _ = check_mem_request(&m);
            }
        }
        5 => {
            let word = |i: usize| {
                rest.get(i * 8..i * 8 + 8)
                    .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()))
            };
            let (aid, a, b, c) = (word(0), word(1) as u32, word(2) as u32, word(3) as usize);
            let _ = check_attest(aid, a & 1 == 0, c, b);
            if let Ok(req) = check_quota(aid, a, b) {
                if let Ok(budget) = AgentBudget::from_user_bytes(rest.get(32..).unwrap_or(&[])) {
                    let _ = check_budget(&req, &budget);
                }
            }
            for call in [CapCall::Grant, CapCall::Revoke, CapCall::Present] {
                let _ = check_cap_call(call, aid, a, b & 1 == 0, c, b);
            }
            let _ = check_memory_tier(aid, a);
        }
        6 => {
            for pair in rest.chunks(2) {
                if let [s, t] = pair {
                    if let (Some(s), Some(t)) = (State::from_u32(u32::from(*s)), Trigger::ALL.get(usize::from(*t))) {
                        if let Some(next) = s.next(*t) {
                            assert!(s.can_transition_to(next));
                            assert!(!s.is_terminal());
                        }
                    }
                }
            }
        }
        _ => {
            let _ = check_scope_arg(rest);
            let _ = CapId::from_name(rest);
            let _ = State::from_word(rest);
            let _ = AuditKind::from_json_name(rest);
        }
    }
});

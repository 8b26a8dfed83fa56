//! Helpers shared by the integration tests: real `chain.log` lines.

use libcoconut::abi::{Aid, AuditKind};
use libcoconut::audit::shared::{Chain, Record};
use libcoconut::audit::{render_json_line, RowRef, EVENT_MAX, JSON_LINE_MAX};

/// `count` rows of `boot`'s chain as `chain.log` lines, each ending in `\n`.
pub fn chain_lines(boot: u64, count: usize) -> Vec<String> {
    let mut chain = Chain::from_genesis([7; 32], boot, None);
    let mut out = Vec::new();
    for i in 0..count {
        let detail = if i == 0 {
            format!("boot={boot} abi=1 kernel=test seed=none")
        } else {
            format!("from=RUNNING to=FROZEN why=test{i}")
        };
        let rec = Record {
            kind: if i == 0 {
                AuditKind::Boot
            } else {
                AuditKind::State
            },
            time_ns: 1_767_225_600_000_000_000 + i as u64,
            actor: Aid::BOOT,
            subject: Aid::BOOT,
            result: 0,
            detail: &detail,
        };
        let mut ev = [0u8; EVENT_MAX];
        let (row, len) = chain.seal(&rec, &mut ev).unwrap();
        let mut line = [0u8; JSON_LINE_MAX];
        let n = render_json_line(
            RowRef {
                prev: &row.prev,
                event: &ev[..len],
                hash: &row.hash,
            },
            &mut line,
        )
        .unwrap();
        out.push(String::from_utf8(line[..n].to_vec()).unwrap());
    }
    out
}

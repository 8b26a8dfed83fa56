//! The scope coverage rule, the text form of capabilities, and scope validation.

use coconut_abi::{covers, entry_covers, parse_capability, validate_scope, CapError, CapId};
use proptest::prelude::*;

#[test]
fn coverage_rule_cases() {
    let cases: [(&str, &str, bool); 22] = [
        // Unscoped held entries cover every scope, including unscoped requests.
        ("", "", true),
        ("", "anything", true),
        ("", "/srv/*", true),
        // Exact matches.
        ("api.example.com:443", "api.example.com:443", true),
        ("api.example.com:443", "api.example.com:80", false),
        ("/srv/data", "/srv/data/x", false),
        // Prefix wildcards.
        ("/srv/*", "/srv/a", true),
        ("/srv/*", "/srv/", true),
        ("/srv/*", "/srv/a/b/c", true),
        ("/srv/*", "/srv/x*", true),
        ("/srv/*", "/srv/*", true),
        ("/srv/*", "/srv", false),
        ("/srv/*", "/srvx", false),
        ("/srv/*", "", false),
        ("*", "", true),
        ("*", "anything", true),
        ("api.*", "api.example.com:443", true),
        ("api.*", "apx.example.com", false),
        // A scoped entry never covers an unscoped request.
        ("gpt-small", "", false),
        // A request wildcard is only covered by a wider or equal wildcard.
        ("/srv/a", "/srv/*", false),
        ("/srv/a*", "/srv/*", false),
        // Matching is bytewise: no case folding, no normalisation.
        ("/Srv/*", "/srv/a", false),
    ];
    for (held, req, expected) in cases {
        assert_eq!(
            covers(held.as_bytes(), req.as_bytes()),
            expected,
            "{held:?} covers {req:?}"
        );
    }
}

#[test]
fn entries_must_name_the_same_capability() {
    assert!(entry_covers(
        (CapId::FsRead, b"/srv/*"),
        (CapId::FsRead, b"/srv/a")
    ));
    assert!(!entry_covers(
        (CapId::FsWrite, b""),
        (CapId::FsRead, b"/srv/a")
    ));
    assert!(!entry_covers(
        (CapId::FsRead, b"/srv/*"),
        (CapId::FsWrite, b"/srv/a")
    ));
}

#[test]
fn text_form_parses() {
    assert_eq!(
        parse_capability(b"agent.spawn"),
        Ok((CapId::AgentSpawn, &b""[..]))
    );
    assert_eq!(
        parse_capability(b"net.connect:api.example.com:443"),
        Ok((CapId::NetConnect, &b"api.example.com:443"[..]))
    );
    assert_eq!(
        parse_capability(b"fs.read:/srv/*"),
        Ok((CapId::FsRead, &b"/srv/*"[..]))
    );
    assert_eq!(parse_capability(b"fs.read:"), Err(CapError::EmptyScope));
    assert_eq!(parse_capability(b"fs.reed:/x"), Err(CapError::UnknownName));
    assert_eq!(parse_capability(b":/x"), Err(CapError::UnknownName));
    assert_eq!(
        parse_capability(b"fs.read:/a b"),
        Err(CapError::BadScopeByte)
    );
    assert_eq!(
        parse_capability(b"fs.read:/a*/b"),
        Err(CapError::MisplacedWildcard)
    );
    let long = format!("fs.read:/{}", "a".repeat(256));
    assert_eq!(
        parse_capability(long.as_bytes()),
        Err(CapError::ScopeTooLong)
    );
    let max = format!("fs.read:/{}", "a".repeat(255));
    assert!(parse_capability(max.as_bytes()).is_ok());
}

#[test]
fn scope_validation() {
    assert_eq!(validate_scope(b""), Err(CapError::EmptyScope));
    assert_eq!(validate_scope(b"ok"), Ok(()));
    assert_eq!(validate_scope(b"*"), Ok(()));
    assert_eq!(validate_scope(b"**"), Err(CapError::MisplacedWildcard));
    assert_eq!(validate_scope(b"a\x00"), Err(CapError::BadScopeByte));
    assert_eq!(validate_scope(b"a\x7f"), Err(CapError::BadScopeByte));
    assert_eq!(validate_scope("é".as_bytes()), Err(CapError::BadScopeByte));
    assert_eq!(validate_scope(b"~!\"#$%&'()+,-./:;<=>?@[\\]^_`{|}"), Ok(()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn unscoped_covers_everything(req in proptest::collection::vec(any::<u8>(), 0..64)) {
        prop_assert!(covers(b"", &req));
    }

    #[test]
    fn every_scope_covers_itself(s in "[!-~]{1,32}") {
        prop_assert!(covers(s.as_bytes(), s.as_bytes()));
    }

    #[test]
    fn wildcard_covers_exactly_its_extensions(prefix in "[!-)+-~]{0,12}", rest in "[!-~]{0,12}") {
        let held = format!("{prefix}*");
        let req = format!("{prefix}{rest}");
        prop_assert!(covers(held.as_bytes(), req.as_bytes()));
        // Anything not starting with the prefix is not covered (unless it equals held).
        let other = format!("#{req}");
        if !other.starts_with(&prefix) {
            prop_assert!(!covers(held.as_bytes(), other.as_bytes()));
        }
    }

    #[test]
    fn coverage_is_transitive(a in "[a-c/]{0,4}\\*?", b in "[a-c/]{0,6}\\*?", c in "[a-c/]{0,8}\\*?") {
        let (a, b, c) = (a.as_bytes(), b.as_bytes(), c.as_bytes());
        if covers(a, b) && covers(b, c) {
            prop_assert!(covers(a, c));
        }
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_capability(&bytes);
    }
}

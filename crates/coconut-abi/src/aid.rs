//! The agent identifier: a u64 printed as `a:NNNNN`, and the special argument values.
//!
//! Job: the canonical text form of an AID (at least five digits, zero padded, wider when the
//! value needs it) and a strict parser that accepts exactly that form, so that every AID has
//! one spelling in agentfs paths, audit rows and CLI arguments. Also the classification of a
//! raw `__u64 aid` syscall argument ([`AidTarget`]).
//!
//! Constraints: no_std, no heap, no panics; the text form is produced without `core::fmt` by
//! [`Aid::encode`] for kernel code that fills buffers.

use super::errno::Errno;
use super::limits::AID_MAX;

/// `aid` argument value meaning "the caller's own agent".
pub const AID_SELF: u64 = u64::MAX;
/// `agent_audit_filter.aid` value meaning "any agent" (a wildcard; not valid elsewhere).
pub const AID_ANY: u64 = u64::MAX - 1;
/// Longest text form of an AID: `"a:"` plus 19 digits of [`AID_MAX`].
pub const AID_TEXT_MAX: usize = 21;

/// Digits below which the text form is zero padded.
const AID_MIN_DIGITS: usize = 5;

/// An agent identifier, 0 (the boot agent a:00000) through [`AID_MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Aid(u64);

/// Why a text or number is not an AID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AidError {
    /// The text does not start with the prefix `a:`.
    MissingPrefix,
    /// A byte after `a:` is not an ASCII digit.
    NotDigit,
    /// Fewer than five digits (`a:1`), or a leading zero in a form wider than five digits
    /// (`a:000001`): only the canonical form is accepted.
    NonCanonical,
    /// The value is larger than `AID_MAX` (2^63 - 1).
    TooLarge,
}

impl core::fmt::Display for AidError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            AidError::MissingPrefix => "AID does not start with \"a:\" (expected a:NNNNN)",
            AidError::NotDigit => "AID has a non-digit after \"a:\" (expected a:NNNNN)",
            AidError::NonCanonical => {
                "AID is not in canonical form (at least 5 digits, zero padded to 5, no other leading zeros)"
            }
            AidError::TooLarge => "AID is larger than the largest AID 9223372036854775807",
        })
    }
}

impl Aid {
    /// The boot agent, a:00000 (coconutd's agent; owns every task not placed in an agent).
    pub const BOOT: Aid = Aid(0);
    /// The largest AID.
    pub const MAX: Aid = Aid(AID_MAX);

    /// The AID with this value, if it is at most [`AID_MAX`].
    pub const fn new(value: u64) -> Result<Aid, AidError> {
        if value > AID_MAX {
            Err(AidError::TooLarge)
        } else {
            Ok(Aid(value))
        }
    }

    /// The numeric value.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Whether this is the boot agent a:00000.
    pub const fn is_boot(self) -> bool {
        self.0 == 0
    }

    /// Parses exactly the canonical text form `a:NNNNN`: the prefix `a:` (lower case), then
    /// five digits when the value is below 100000, else the decimal digits with no leading
    /// zero; nothing before or after.
    pub fn parse(text: &[u8]) -> Result<Aid, AidError> {
        let digits = match text {
            [b'a', b':', rest @ ..] => rest,
            _ => return Err(AidError::MissingPrefix),
        };
        if digits.iter().any(|b| !b.is_ascii_digit()) {
            return Err(AidError::NotDigit);
        }
        if digits.len() < AID_MIN_DIGITS {
            return Err(AidError::NonCanonical);
        }
        if digits.len() > AID_MIN_DIGITS && digits.first() == Some(&b'0') {
            return Err(AidError::NonCanonical);
        }
        let mut value: u64 = 0;
        for d in digits {
            // Every byte is an ASCII digit (checked above), so `to_digit` is `Some`.
            let digit = char::from(*d).to_digit(10).ok_or(AidError::NotDigit)?;
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(digit)))
                .ok_or(AidError::TooLarge)?;
        }
        Aid::new(value)
    }

    /// Writes the canonical text form into `buf` and returns the written prefix of it.
    pub fn encode(self, buf: &mut [u8; AID_TEXT_MAX]) -> &[u8] {
        // Count the digits, then write them from the last one backwards behind "a:".
        let mut width = 1usize;
        let mut rest = self.0 / 10;
        while rest != 0 {
            width = width.saturating_add(1);
            rest /= 10;
        }
        // At most 2 + 19 = AID_TEXT_MAX.
        let len = width.max(AID_MIN_DIGITS).saturating_add(2);
        let Some([a, colon, digits @ ..]) = buf.get_mut(..len) else {
            debug_assert!(false, "an AID has at most {AID_TEXT_MAX} characters");
            return &[];
        };
        *a = b'a';
        *colon = b':';
        let mut v = self.0;
        for slot in digits.iter_mut().rev() {
            // `v % 10` is below 10, so OR-ing it into b'0' (0x30) gives its ASCII digit.
            *slot = b'0' | (v % 10) as u8;
            v /= 10;
        }
        buf.get(..len).unwrap_or(&[])
    }
}

impl core::fmt::Display for Aid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "a:{:05}", self.0)
    }
}

impl core::str::FromStr for Aid {
    type Err = AidError;

    fn from_str(s: &str) -> Result<Aid, AidError> {
        Aid::parse(s.as_bytes())
    }
}

impl TryFrom<u64> for Aid {
    type Error = AidError;

    fn try_from(value: u64) -> Result<Aid, AidError> {
        Aid::new(value)
    }
}

impl From<Aid> for u64 {
    fn from(aid: Aid) -> u64 {
        aid.0
    }
}

/// What a raw `__u64 aid` syscall argument names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AidTarget {
    /// [`AID_SELF`]: the caller's own agent.
    SelfAgent,
    /// A specific agent (which may or may not exist; existence is kernel state).
    Agent(Aid),
}

impl AidTarget {
    /// The raw `__u64` argument value.
    pub const fn raw(self) -> u64 {
        match self {
            AidTarget::SelfAgent => AID_SELF,
            AidTarget::Agent(aid) => aid.0,
        }
    }

    /// Classifies a syscall `aid` argument: [`AID_SELF`] or a value up to [`AID_MAX`];
    /// anything else (including [`AID_ANY`], which only audit filters accept) is `EINVAL`.
    pub const fn from_arg(raw: u64) -> Result<AidTarget, Errno> {
        if raw == AID_SELF {
            Ok(AidTarget::SelfAgent)
        } else if raw <= AID_MAX {
            Ok(AidTarget::Agent(Aid(raw)))
        } else {
            Err(Errno::EINVAL)
        }
    }
}

impl From<Aid> for AidTarget {
    fn from(aid: Aid) -> AidTarget {
        AidTarget::Agent(aid)
    }
}

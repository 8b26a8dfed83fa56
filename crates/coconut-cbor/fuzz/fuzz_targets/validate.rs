//! Fuzz target: `validate` under the kernel and the permissive limits never panics, its error
//! offsets point inside the input, and whatever it accepts the Decoder can walk completely.

#![no_main]

use coconut_cbor::{validate, Decoder, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let kernel = validate(data, &Limits::KERNEL);
    let permissive = validate(data, &Limits::PERMISSIVE);
    for result in [kernel, permissive] {
        if let Err(e) = result {
            assert!(
                e.offset() <= data.len().max(Limits::KERNEL.max_input),
                "{e:?}"
            );
        }
    }
    if kernel.is_ok() {
        assert_eq!(permissive, Ok(()), "the kernel limits are stricter");
    }
    if permissive.is_ok() {
        let mut d = Decoder::new(data);
        assert_eq!(d.raw_item(), Ok(data));
        assert_eq!(d.finish(), Ok(()));
    }
});

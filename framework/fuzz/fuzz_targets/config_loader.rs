//! Fuzz `percore::Config::from_toml_str` (config.toml as an operator
//! writes it). Checks:
//!
//! 1. it never panics, on any text;
//! 2. an error always names where it comes from and says something;
//! 3. a config it accepts validates, and survives a round trip through
//!    TOML: serialized and parsed again, it is the same config.
#![no_main]

use libfuzzer_sys::fuzz_target;
use percore::Config;

fuzz_target!(|text: &str| {
    match Config::from_toml_str(text) {
        Ok(config) => {
            config.validate().expect("an accepted config validates");
            let again = toml::to_string(&config).expect("serializes");
            let back = Config::from_toml_str(&again)
                .unwrap_or_else(|e| panic!("round trip refused: {e}\n{again}"));
            assert_eq!(back, config, "round trip changed the config");
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("config"), "{msg}");
            assert!(msg.len() > "config: ".len(), "{msg}");
        }
    }
});

//! The web's enumerations (`BackgroundFetchResult`, `BackgroundFetchFailureReason`), and the
//! state of a record, as Rust enums, each defined by ONE table: the variant, its code in the C
//! ABI and its string on the web (for the record state: in the Python wrapper), which is also
//! its stored form. The FFI, the store and the header's constants all follow
//! the table (the header's `#define`s are checked against it at compile time in `ffi::status`).

use std::ffi::CStr;

/// Defines an enum from rows `Variant = code, c"web string";`, with lookups both ways and
/// serde as the web string.
macro_rules! web_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal, $web:literal; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        #[repr(u32)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $code, )*
        }

        impl $name {
            /// Every value with its C ABI code and its web string: the one table.
            pub const TABLE: &'static [($name, u32, &'static CStr)] =
                &[$( ($name::$variant, $code, $web), )*];

            /// The string the web uses (also the stored form).
            pub fn as_str(self) -> &'static str {
                self.c_str().to_str().unwrap_or_default()
            }

            /// The web's string, NUL-terminated for C.
            pub fn c_str(self) -> &'static CStr {
                Self::TABLE
                    .iter()
                    .find(|(v, _, _)| *v == self)
                    .map_or(c"", |(_, _, s)| s)
            }

            /// The value's code in the C ABI.
            pub fn code(self) -> u32 {
                self as u32
            }

            /// The value of a C ABI code.
            pub fn from_code(code: u32) -> Option<$name> {
                Self::TABLE.iter().find(|(_, c, _)| *c == code).map(|(v, _, _)| *v)
            }

            /// The value of a web string.
            pub fn parse(s: &str) -> Option<$name> {
                Self::TABLE
                    .iter()
                    .find(|(_, _, w)| w.to_bytes() == s.as_bytes())
                    .map(|(v, _, _)| *v)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        concat!("unknown ", stringify!($name), " {:?}"),
                        s
                    ))
                })
            }
        }
    };
}

web_enum! {
    /// The web's `BackgroundFetchResult`.
    pub enum FetchResult {
        /// Still running: `""`.
        #[default]
        None = 0, c"";
        /// `"success"`
        Success = 1, c"success";
        /// `"failure"`
        Failure = 2, c"failure";
    }
}

web_enum! {
    /// The web's `BackgroundFetchFailureReason`.
    pub enum FailureReason {
        /// `""`
        #[default]
        None = 0, c"";
        /// `"aborted"`: the host aborted the fetch.
        Aborted = 1, c"aborted";
        /// `"bad-status"`: a response status outside 200..=299.
        BadStatus = 2, c"bad-status";
        /// `"fetch-error"`: a network error after the retries, or an integrity mismatch.
        FetchError = 3, c"fetch-error";
        /// `"quota-exceeded"`: the store's quota (or the disk) is full.
        QuotaExceeded = 4, c"quota-exceeded";
        /// `"download-total-exceeded"`: the responses would exceed the download total.
        DownloadTotalExceeded = 5, c"download-total-exceeded";
    }
}

web_enum! {
    /// What a record is doing, or waiting for (API.md, "What a fetch waits for"). A fetch's
    /// state is the most alive of its records' (see [`crate::Registration::state`]).
    pub enum RecordState {
        /// `"queued"`: waiting for a connection slot.
        #[default]
        Queued = 0, c"queued";
        /// `"active"`: connecting, sending or receiving.
        Active = 1, c"active";
        /// `"retry-wait"`: an attempt failed transiently; the next comes after `retry_in`.
        RetryWait = 2, c"retry-wait";
        /// `"offline"`: the host said the network is gone.
        Offline = 3, c"offline";
        /// `"paused"`: its fetch is paused.
        Paused = 4, c"paused";
        /// `"done"`: its response is complete (whatever its status).
        Done = 5, c"done";
        /// `"failed"`: it will never have a complete response (failed, aborted).
        Failed = 6, c"failed";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_round_trips() {
        for (v, code, web) in FailureReason::TABLE {
            assert_eq!(FailureReason::from_code(*code), Some(*v));
            assert_eq!(FailureReason::parse(web.to_str().unwrap()), Some(*v));
            assert_eq!(v.code(), *code);
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(serde_json::from_str::<FailureReason>(&json).unwrap(), *v);
        }
        for (v, code, _) in FetchResult::TABLE {
            assert_eq!(FetchResult::from_code(*code), Some(*v));
            assert_eq!(FetchResult::parse(v.as_str()), Some(*v));
        }
        for (v, code, _) in RecordState::TABLE {
            assert_eq!(RecordState::from_code(*code), Some(*v));
            assert_eq!(RecordState::parse(v.as_str()), Some(*v));
        }
        assert_eq!(FailureReason::from_code(99), None);
        assert!(serde_json::from_str::<FetchResult>("\"maybe\"").is_err());
    }
}

//! Timestamps on the wire: one conversion to `google.protobuf.Timestamp` for every store's
//! clock type (chrono in MySQL services, milliseconds from MongoDB and Redis).

use chrono::{DateTime, Utc};

pub fn from_chrono(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

/// Unix milliseconds (negative before 1970) as a Timestamp.
pub fn from_millis(millis: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: (millis.rem_euclid(1000) * 1_000_000) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_before_and_after_the_epoch() {
        assert_eq!(
            from_millis(1_500),
            prost_types::Timestamp {
                seconds: 1,
                nanos: 500_000_000
            }
        );
        assert_eq!(
            from_millis(-1),
            prost_types::Timestamp {
                seconds: -1,
                nanos: 999_000_000
            }
        );
        let now = Utc::now();
        assert_eq!(from_chrono(now).seconds, now.timestamp());
    }
}

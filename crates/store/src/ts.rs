//! Times as bound parameters. PostgreSQL stores `timestamptz`; SQLite stores
//! text, which Haven compares as text (ranges, ordering). sqlx writes
//! variable-width text (`…:00Z` vs `…:00.5Z`), which sorts wrongly within a
//! second, so on SQLite every time is written in UTC with exactly six
//! fractional digits: fixed width, so text order is time order.

use sqlx::{Database, Encode, Postgres, Sqlite, Type, encode::IsNull, error::BoxDynError};
use time::{OffsetDateTime, UtcOffset, macros::format_description};

/// A time to bind as a query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ts(pub OffsetDateTime);

/// The fixed-width UTC text SQLite stores.
pub fn sqlite_text(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        ))
        .unwrap_or_default()
}

impl Type<Sqlite> for Ts {
    fn type_info() -> <Sqlite as Database>::TypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &<Sqlite as Database>::TypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut <Sqlite as Database>::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<'_, Sqlite>>::encode(sqlite_text(self.0), buf)
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> <Postgres as Database>::TypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &<Postgres as Database>::TypeInfo) -> bool {
        <OffsetDateTime as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for Ts {
    fn encode_by_ref(&self, buf: &mut <Postgres as Database>::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <OffsetDateTime as Encode<'_, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn sqlite_text_is_fixed_width_utc_so_text_order_is_time_order() {
        let a = sqlite_text(datetime!(2025-01-01 12:00:00 UTC));
        let b = sqlite_text(datetime!(2025-01-01 12:00:00.5 UTC));
        let c = sqlite_text(datetime!(2025-01-01 13:30:00.25 +01:00));
        assert_eq!(a, "2025-01-01T12:00:00.000000Z");
        assert!(a < b && c == "2025-01-01T12:30:00.250000Z" && b < c);
    }
}

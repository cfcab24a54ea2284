//! `Numeric`: an exact decimal column on both backends (SPEC §2: scores, mastery and money are
//! never binary floats).
//!
//! PostgreSQL keeps it as `NUMERIC(p, s)` and SeaORM's `Decimal` reads it exactly. SQLite has
//! no decimal type: a value is stored as TEXT (money, written as its decimal string), INTEGER
//! (a whole percentage) or REAL (a percentage with cents), and SeaORM's own `Decimal` reads
//! only REAL. So this type reads whichever storage class the row has — text and integers
//! exactly, a REAL by its shortest decimal form — and writes a `Decimal`, which the SQLite
//! binder sends as its exact decimal string.

use rust_decimal::Decimal;
use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, Value, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, QueryResult, TryGetError, TryGetable};
use serde::{Deserialize, Serialize};

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Numeric(pub Decimal);

impl From<Decimal> for Numeric {
    fn from(value: Decimal) -> Self {
        Self(value)
    }
}

impl From<Numeric> for Value {
    fn from(value: Numeric) -> Self {
        Value::Decimal(Some(value.0))
    }
}

impl Nullable for Numeric {
    fn null() -> Value {
        Value::Decimal(None)
    }
}

impl ValueType for Numeric {
    fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
        match v {
            Value::Decimal(Some(d)) => Ok(Self(d)),
            _ => Err(ValueTypeErr),
        }
    }

    fn type_name() -> String {
        "Numeric".to_owned()
    }

    fn array_type() -> ArrayType {
        ArrayType::Decimal
    }

    fn column_type() -> ColumnType {
        ColumnType::Decimal(None)
    }
}

impl TryGetable for Numeric {
    fn try_get_by<I: ColIdx>(res: &QueryResult, index: I) -> Result<Self, TryGetError> {
        // PostgreSQL's NUMERIC, and SQLite's REAL, decode as Decimal; SQLite's TEXT and INTEGER
        // are refused by that decoder as mismatched types and are read as what they are.
        let decimal = match Decimal::try_get_by(res, index) {
            Ok(d) => return Ok(Self(d)),
            Err(e @ TryGetError::Null(_)) => return Err(e),
            Err(e) => e,
        };
        if let Ok(text) = String::try_get_by(res, index) {
            return text.trim().parse::<Decimal>().map(Self).map_err(|e| {
                TryGetError::DbErr(sea_orm::DbErr::Type(format!(
                    "{text:?} is not a decimal: {e}"
                )))
            });
        }
        if let Ok(whole) = i64::try_get_by(res, index) {
            return Ok(Self(Decimal::from(whole)));
        }
        Err(decimal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_bind_as_exact_decimals() {
        let d: Decimal = "0.001234".parse().unwrap();
        assert_eq!(Value::from(Numeric(d)), Value::Decimal(Some(d)));
        assert_eq!(
            <Numeric as ValueType>::try_from(Value::Decimal(Some(d))).ok(),
            Some(Numeric(d))
        );
    }

    /// A column without affinity keeps each value in the storage class it arrived in (as the
    /// TEXT cost column and the NUMERIC percentage columns do for theirs); all read back exactly.
    #[tokio::test]
    async fn sqlite_text_integer_and_real_values_read_back_exactly() {
        use sea_orm::{ConnectionTrait, Database, Statement};
        let db = Database::connect("sqlite::memory:").await.unwrap();
        db.execute_unprepared(
            "CREATE TABLE t (n INTEGER, v); \
             INSERT INTO t VALUES (1, 100), (2, 66.67), (3, '0.001234'), (4, '12345678901.123456')",
        )
        .await
        .unwrap();
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT v FROM t ORDER BY n",
            ))
            .await
            .unwrap();
        let read: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<Numeric>("", "v").unwrap().0.to_string())
            .collect();
        assert_eq!(read, ["100", "66.67", "0.001234", "12345678901.123456"]);
    }
}

//! Money as integer minor units of an ISO 4217 currency.
//!
//! A `Money` can only be built through `Money::new`/`TryFrom<proto>`, so every value in
//! domain code has a known currency and arithmetic that cannot silently overflow or mix
//! currencies. Floating point never touches an amount.

use std::fmt;

use shop_proto::shop::common::v1 as pb;

/// An upper-case three-letter ISO 4217 code that shopmesh knows how to format and charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

/// Currencies we accept, with the number of digits in their minor unit. Stripe's list is
/// longer; adding one here is a product decision (pricing, tax), not a code change elsewhere.
const CURRENCIES: &[(&str, u32)] = &[
    ("EUR", 2),
    ("USD", 2),
    ("GBP", 2),
    ("CHF", 2),
    ("SEK", 2),
    ("NOK", 2),
    ("DKK", 2),
    ("PLN", 2),
    ("CAD", 2),
    ("AUD", 2),
    ("JPY", 0),
    ("KRW", 0),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency must be an upper-case ISO 4217 code such as EUR (got {0:?})")]
    UnknownCurrency(String),
    #[error("cannot combine {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount out of range")]
    Overflow,
    #[error("amount must be positive")]
    NotPositive,
    #[error("money is required")]
    Missing,
}

impl Currency {
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        CURRENCIES
            .iter()
            .find(|(known, _)| *known == code)
            .map(|(known, _)| {
                let bytes = known.as_bytes();
                Currency([bytes[0], bytes[1], bytes[2]])
            })
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))
    }

    pub fn code(&self) -> &str {
        // Only ASCII codes from CURRENCIES are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point in this currency's major unit (2 for EUR, 0 for JPY).
    pub fn minor_digits(&self) -> u32 {
        CURRENCIES
            .iter()
            .find(|(known, _)| known.as_bytes() == self.0)
            .map_or(2, |(_, digits)| *digits)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    amount_minor: i64,
    currency: Currency,
}

impl Money {
    pub fn new(amount_minor: i64, currency: Currency) -> Self {
        Self {
            amount_minor,
            currency,
        }
    }

    pub fn zero(currency: Currency) -> Self {
        Self::new(0, currency)
    }

    pub fn amount_minor(&self) -> i64 {
        self.amount_minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// A price or total: rejects zero and negative amounts.
    pub fn positive(self) -> Result<Self, MoneyError> {
        if self.amount_minor > 0 {
            Ok(self)
        } else {
            Err(MoneyError::NotPositive)
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        self.amount_minor
            .checked_add(other.amount_minor)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_mul(self, quantity: i64) -> Result<Money, MoneyError> {
        self.amount_minor
            .checked_mul(quantity)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// Sums amounts that must share `currency`; an empty list is zero.
    pub fn sum(
        currency: Currency,
        items: impl IntoIterator<Item = Money>,
    ) -> Result<Money, MoneyError> {
        items
            .into_iter()
            .try_fold(Money::zero(currency), Money::checked_add)
    }

    pub fn to_proto(self) -> pb::Money {
        pb::Money {
            amount_minor: self.amount_minor,
            currency: self.currency.code().to_owned(),
        }
    }

    /// Parses an optional proto field, so a missing price is an error rather than a zero.
    pub fn from_proto(money: Option<&pb::Money>) -> Result<Self, MoneyError> {
        let money = money.ok_or(MoneyError::Missing)?;
        Ok(Money::new(
            money.amount_minor,
            Currency::parse(&money.currency)?,
        ))
    }
}

/// "12.50 EUR", "1200 JPY", "-3.05 USD": unambiguous and locale-free; the web client
/// localises for display.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.currency.minor_digits();
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        let magnitude = self.amount_minor.unsigned_abs();
        if digits == 0 {
            return write!(f, "{sign}{magnitude} {}", self.currency);
        }
        let scale = 10u64.pow(digits);
        write!(
            f,
            "{sign}{}.{:0width$} {}",
            magnitude / scale,
            magnitude % scale,
            self.currency,
            width = digits as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::parse("EUR").unwrap())
    }

    #[test]
    fn formats_minor_units_per_currency() {
        assert_eq!(eur(1250).to_string(), "12.50 EUR");
        assert_eq!(eur(-305).to_string(), "-3.05 EUR");
        assert_eq!(eur(7).to_string(), "0.07 EUR");
        let yen = Money::new(1200, Currency::parse("JPY").unwrap());
        assert_eq!(yen.to_string(), "1200 JPY");
    }

    #[test]
    fn refuses_unknown_or_lower_case_currencies() {
        assert!(Currency::parse("eur").is_err());
        assert!(Currency::parse("EURO").is_err());
        assert!(Currency::parse("").is_err());
    }

    #[test]
    fn arithmetic_refuses_mixed_currencies_and_overflow() {
        let usd = Money::new(100, Currency::parse("USD").unwrap());
        assert!(matches!(
            eur(1).checked_add(usd),
            Err(MoneyError::CurrencyMismatch(..))
        ));
        assert_eq!(eur(i64::MAX).checked_add(eur(1)), Err(MoneyError::Overflow));
        assert_eq!(eur(250).checked_mul(3), Ok(eur(750)));
        assert_eq!(Money::sum(eur(0).currency(), [eur(1), eur(2)]), Ok(eur(3)));
    }

    #[test]
    fn proto_round_trip_and_missing_money() {
        assert_eq!(Money::from_proto(Some(&eur(99).to_proto())), Ok(eur(99)));
        assert_eq!(Money::from_proto(None), Err(MoneyError::Missing));
        assert_eq!(eur(0).positive(), Err(MoneyError::NotPositive));
    }
}

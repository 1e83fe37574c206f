//! An offline carrier for demos: books instantly, no network, deterministic tracking codes.

use sha2::{Digest, Sha256};

use super::{Booking, BookingRequest, Carrier, CarrierError};

/// Books every well-formed parcel at once with tracking code `MOCK` + 10 hex digits of
/// SHA-256(reference): the same parcel always gets the same code, so re-booking is idempotent.
#[derive(Debug, Clone, Default)]
pub struct MockCarrier;

impl MockCarrier {
    pub fn new() -> Self {
        MockCarrier
    }

    /// The code [`MockCarrier`] gives the parcel `reference`.
    pub fn tracking_code(reference: &str) -> String {
        let digest = Sha256::digest(reference.as_bytes());
        format!("MOCK{}", hex::encode_upper(&digest[..5]))
    }

    pub async fn book(&self, req: &BookingRequest) -> Result<Booking, CarrierError> {
        if req.reference.trim().is_empty() {
            return Err(CarrierError::rejected("reference is empty"));
        }
        if req.weight_g == 0 {
            return Err(CarrierError::rejected("weight 0 g"));
        }
        if req.receiver.phone.trim().is_empty() {
            return Err(CarrierError::rejected("receiver phone is empty"));
        }
        if req.cod.is_sign_negative() && !req.cod.is_zero() {
            return Err(CarrierError::rejected("COD is negative"));
        }
        Ok(Booking {
            tracking_code: Self::tracking_code(&req.reference),
            fee: None,
        })
    }

    /// Cancels a mock carrier order: any code this carrier could have issued.
    pub async fn cancel(&self, tracking: &str, _note: &str) -> Result<(), CarrierError> {
        let hex = tracking.strip_prefix("MOCK").unwrap_or("");
        if hex.len() != 10 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CarrierError::rejected(format!(
                "no mock carrier order {tracking}"
            )));
        }
        Ok(())
    }
}

impl Carrier for MockCarrier {
    fn book(
        &self,
        req: &BookingRequest,
    ) -> impl std::future::Future<Output = Result<Booking, CarrierError>> + Send {
        MockCarrier::book(self, req)
    }

    fn cancel(
        &self,
        tracking: &str,
        note: &str,
    ) -> impl std::future::Future<Output = Result<(), CarrierError>> + Send {
        MockCarrier::cancel(self, tracking, note)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_distinct() {
        let a = MockCarrier::tracking_code("P-1");
        assert_eq!(a, MockCarrier::tracking_code("P-1"));
        assert_ne!(a, MockCarrier::tracking_code("P-2"));
        assert_eq!(a.len(), 14);
        assert!(a.starts_with("MOCK"));
    }
}

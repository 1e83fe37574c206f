//! States and kinds as types: where an order, a parcel, a shipment, a wave, a session and a
//! carrier booking stand. Each enum's serde name is its wire string (contract §2, §6) and
//! `as_str()` is the same string, the one Redis hashes and the Lua scripts hold; `FromStr`
//! refuses any other string, naming what it expected.

/// A string that names none of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`: expected one of {}", .expected.join(", "))]
pub struct UnknownValue {
    /// What was being parsed, e.g. "parcel status".
    pub what: &'static str,
    pub value: String,
    pub expected: &'static [&'static str],
}

/// An enum whose every value has one fixed wire string: `as_str()`, `Display`, `FromStr`
/// and serde all agree, and `ALL` lists the values in declaration order.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:tt, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $wire)] $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every wire string, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($wire),+];

            /// The wire string (equal to the serde name): what Redis stores.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $wire, )+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::domain::status::UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $wire => Ok($name::$variant), )+
                    _ => Err($crate::domain::status::UnknownValue {
                        what: $what,
                        value: s.to_owned(),
                        expected: $name::NAMES,
                    }),
                }
            }
        }
    };
}

pub(crate) use wire_enum;

wire_enum! {
    /// An order's place in its life (contract §2), the order hash's `st` field.
    pub enum OrderStatus ("order status") {
        Received = "received",
        Waved = "waved",
        Picked = "picked",
        Packed = "packed",
        Booked = "booked",
        HandedOver = "handed_over",
        Delivered = "delivered",
        Returned = "returned",
        Cancelled = "cancelled",
    }
}

impl OrderStatus {
    /// Not packed yet: still in planning, in a wave, or picked.
    pub fn is_unpacked(self) -> bool {
        matches!(
            self,
            OrderStatus::Received | OrderStatus::Waved | OrderStatus::Picked
        )
    }

    /// On the truck, delivered, returned or cancelled: never packed again (a packed or
    /// booked order may be: an undone pack or a repack takes it back to `picked`).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OrderStatus::HandedOver
                | OrderStatus::Delivered
                | OrderStatus::Returned
                | OrderStatus::Cancelled
        )
    }
}

wire_enum! {
    /// A parcel's status as the API shows it (contract §6): the floor's status until the
    /// carrier has it, except that a parcel not packed yet stays `open` even when booked early.
    pub enum ParcelStatus ("parcel status") {
        Open = "open",
        Packed = "packed",
        Booked = "booked",
        HandedOver = "handed_over",
        Delivered = "delivered",
        Returned = "returned",
        Cancelled = "cancelled",
        Replaced = "replaced",
    }
}

wire_enum! {
    /// What the floor did with a parcel: the parcel hash's `status` field.
    pub enum FloorStatus ("parcel floor status") {
        Open = "open",
        Packed = "packed",
        Cancelled = "cancelled",
        Replaced = "replaced",
    }
}

impl FloorStatus {
    /// Cancelled or replaced: the parcel will never ship.
    pub fn is_gone(self) -> bool {
        matches!(self, FloorStatus::Cancelled | FloorStatus::Replaced)
    }
}

/// Whether a parcel goes to the carrier: not cancelled, not replaced, not to be pulled from
/// its shipment (the rule every Rust caller uses; the Lua scripts that book or hand over a
/// parcel also skip one the carrier cancelled). `status` is its floor status: none (a
/// parcel just waved has none) counts as live.
pub fn parcel_ships(status: Option<FloorStatus>, pulled: bool) -> bool {
    !status.is_some_and(FloorStatus::is_gone) && !pulled
}

wire_enum! {
    /// What the carrier did with a parcel: the parcel hash's `cstatus` field.
    pub enum CarrierStatus ("parcel carrier status") {
        Booked = "booked",
        HandedOver = "handed_over",
        Delivered = "delivered",
        Returned = "returned",
        CancelledByCarrier = "cancelled_by_carrier",
    }
}

wire_enum! {
    /// A shipment's status (contract §2): the shipment hash's `status` field.
    pub enum ShipmentStatus ("shipment status") {
        Open = "open",
        Booked = "booked",
        HandedOver = "handed_over",
    }
}

wire_enum! {
    /// Where a parcel's carrier booking stands (contract §6). Redis' `book_state` field holds
    /// all but `none`, which the API shows for a parcel without one.
    pub enum BookState ("booking state") {
        None = "none",
        Pending = "pending",
        Retrying = "retrying",
        Booked = "booked",
        Rejected = "rejected",
    }
}

wire_enum! {
    /// What one booking request did for a parcel (`POST /v1/shipments/{id}/book`).
    pub enum BookOutcome ("booking result") {
        /// The carrier booked it (now or before): it has a tracking code.
        Booked = "booked",
        /// It failed; the background booker tries again.
        Retrying = "retrying",
        /// The carrier refused it: final.
        Rejected = "rejected",
        /// Not tried now (cancelled, to be pulled, waiting to retry, being booked).
        Skipped = "skipped",
    }
}

wire_enum! {
    /// A wave's status (contract §2): the wave hash's `status` field.
    pub enum WaveStatus ("wave status") {
        Picking = "picking",
        Packing = "packing",
        Done = "done",
    }
}

wire_enum! {
    /// A livestream session's state (contract §2): the session hash's `state` field.
    pub enum SessionState ("session state") {
        Live = "live",
        Ended = "ended",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;
    use std::str::FromStr;

    #[test]
    fn a_parcel_ships_unless_gone_or_pulled() {
        use FloorStatus::*;
        assert!(parcel_ships(None, false), "just waved");
        for live in [Open, Packed] {
            assert!(parcel_ships(Some(live), false));
            assert!(!parcel_ships(Some(live), true), "to be pulled");
        }
        for gone in [Cancelled, Replaced] {
            assert!(!parcel_ships(Some(gone), false));
        }
    }

    /// Each value's serde name, `as_str()`, `Display` and `FromStr` agree.
    fn agree<T>(all: &[T])
    where
        T: Copy + PartialEq + fmt::Debug + fmt::Display + FromStr + serde::Serialize,
        T: serde::de::DeserializeOwned,
    {
        for &v in all {
            let s = v.to_string();
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<T>(&format!("\"{s}\"")).unwrap(), v);
            assert!(s.parse::<T>().ok() == Some(v), "{s}");
        }
    }

    #[test]
    fn wire_names_agree() {
        agree(OrderStatus::ALL);
        agree(ParcelStatus::ALL);
        agree(FloorStatus::ALL);
        agree(CarrierStatus::ALL);
        agree(ShipmentStatus::ALL);
        agree(BookState::ALL);
        agree(BookOutcome::ALL);
        agree(WaveStatus::ALL);
        agree(SessionState::ALL);
    }

    #[test]
    fn contract_strings() {
        assert_eq!(
            OrderStatus::NAMES.join(" | "),
            "received | waved | picked | packed | booked | handed_over | delivered | returned | cancelled"
        );
        assert_eq!(
            ParcelStatus::NAMES.join(" | "),
            "open | packed | booked | handed_over | delivered | returned | cancelled | replaced"
        );
        assert_eq!(
            ShipmentStatus::NAMES.join(" | "),
            "open | booked | handed_over"
        );
        assert_eq!(
            BookState::NAMES.join("|"),
            "none|pending|retrying|booked|rejected"
        );
        assert_eq!(WaveStatus::NAMES.join("|"), "picking|packing|done");
        assert_eq!(SessionState::NAMES.join("|"), "live|ended");
    }

    #[test]
    fn unknown_value_is_named() {
        let e = "shipped".parse::<ShipmentStatus>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown shipment status `shipped`: expected one of open, booked, handed_over"
        );
        assert!("Packed".parse::<OrderStatus>().is_err());
        assert!("".parse::<FloorStatus>().is_err());
    }
}

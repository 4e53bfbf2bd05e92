//! The request domain, pure: the business-day [`calendar`], the legal clocks in [`deadlines`],
//! the status [`lifecycle`] state machine and identity-verification [`token`]s. No I/O here;
//! the store persists what these functions return and the sweeper feeds them the clock.

pub mod calendar;
pub mod deadlines;
pub mod fulfilment;
pub mod law;
pub mod lifecycle;
pub mod staff_token;
pub mod token;

pub use calendar::BusinessCalendar;
pub use deadlines::{compute_deadlines, Deadlines, Jurisdiction};
pub use lifecycle::{DenialBasis, RequestState, Status, Transition, TransitionError};

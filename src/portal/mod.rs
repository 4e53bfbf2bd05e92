//! The download portal (`[portal]`): the consumer's link opens a page with a button, and only
//! the POST from that page streams the decrypted package. Also the HTTP stack `/metrics` uses.

pub mod serve;

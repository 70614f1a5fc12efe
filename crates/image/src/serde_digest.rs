//! Serde for [`Digest`] as its string form (`sha256:<hex>`), validated on the way in.

use berth_reference::Digest;
use serde::{Deserialize, Deserializer, Serializer};

pub(crate) fn serialize<S: Serializer>(d: &Digest, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(d)
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
    let s = String::deserialize(d)?;
    Digest::parse(&s).map_err(|e| serde::de::Error::custom(format!("digest {s:?}: {e}")))
}

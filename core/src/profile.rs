//! The client's own data: demographics, communication capabilities, personal agenda and interests.

use crate::ids::ProductId;
use crate::medium::Medium;
use serde::{Deserialize, Serialize};

/// Who the client is, as far as the client chooses to say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Demographics {
    /// Name to address the client by.
    pub name: Option<String>,
    /// Preferred languages as BCP 47 tags, most preferred first.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Country as ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// Year of birth, if given.
    pub birth_year: Option<u16>,
}

/// One medium the client can use, with the address the center reaches them at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Capability {
    /// The medium.
    pub medium: Medium,
    /// Phone number, email address or handle; none where the app itself is the endpoint (chat).
    pub address: Option<String>,
    /// Devices usable for it, e.g. "mobile", "desktop", "kiosk".
    #[serde(default)]
    pub devices: Vec<String>,
}

/// A weekly window in which the client can be reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AgendaWindow {
    /// ISO weekdays, 1 = Monday … 7 = Sunday.
    pub days: Vec<u8>,
    /// Start as minutes after local midnight.
    pub start_minute: u16,
    /// End as minutes after local midnight (exclusive).
    pub end_minute: u16,
    /// IANA time zone name of the client, e.g. "Europe/Paris".
    pub time_zone: String,
    /// Media the client accepts in this window; empty means all their capabilities.
    #[serde(default)]
    pub media: Vec<Medium>,
}

/// What the client cares about, used for routing and alerts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Interests {
    /// Products the client owns or wants.
    #[serde(default)]
    pub products: Vec<ProductId>,
    /// Free topics ("billing", "warranty").
    #[serde(default)]
    pub topics: Vec<String>,
}

/// Everything the client may post and edit about themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ClientProfile {
    /// Demographics.
    #[serde(default)]
    pub demographics: Demographics,
    /// Communication capabilities.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// Personal agenda.
    #[serde(default)]
    pub agenda: Vec<AgendaWindow>,
    /// Interests.
    #[serde(default)]
    pub interests: Interests,
    /// Bumped by the broker on each accepted edit, so views can tell which copy is newer.
    #[serde(default)]
    pub revision: u64,
}

/// A partial edit of the profile: each present field replaces the stored one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProfilePatch {
    /// New demographics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demographics: Option<Demographics>,
    /// New capability list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<Capability>>,
    /// New agenda.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agenda: Option<Vec<AgendaWindow>>,
    /// New interests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interests: Option<Interests>,
}

impl ProfilePatch {
    /// Applies the patch in place; the revision is the broker's to bump.
    pub fn apply_to(&self, p: &mut ClientProfile) {
        if let Some(d) = &self.demographics {
            p.demographics = d.clone();
        }
        if let Some(c) = &self.capabilities {
            p.capabilities = c.clone();
        }
        if let Some(a) = &self.agenda {
            p.agenda = a.clone();
        }
        if let Some(i) = &self.interests {
            p.interests = i.clone();
        }
    }

    /// Checks limits and shapes so that bad edits are refused with a reason, not stored.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(a) = &self.agenda {
            if a.len() > 64 {
                return Err("agenda has more than 64 windows".into());
            }
            for w in a {
                if w.days.is_empty() || w.days.iter().any(|d| !(1..=7).contains(d)) {
                    return Err("agenda days must be ISO weekdays 1..=7".into());
                }
                if w.start_minute >= w.end_minute || w.end_minute > 24 * 60 {
                    return Err("agenda window must have start < end <= 1440".into());
                }
                if w.time_zone.is_empty() {
                    return Err("agenda window needs a time zone".into());
                }
            }
        }
        if let Some(c) = &self.capabilities {
            if c.len() > 32 {
                return Err("more than 32 capabilities".into());
            }
            for cap in c {
                if matches!(cap.medium, crate::Medium::Voice | crate::Medium::Callback | crate::Medium::Email)
                    && cap.address.as_deref().map_or(true, str::is_empty)
                {
                    return Err(format!("{} capability needs an address", cap.medium));
                }
            }
        }
        if let Some(i) = &self.interests {
            if i.products.len() + i.topics.len() > 256 {
                return Err("more than 256 interests".into());
            }
        }
        Ok(())
    }
}

//! STUN message type: a 12-bit method and a 2-bit class interleaved in 14 bits
//! (RFC 8489 §5, Figure 3).

use std::fmt;

/// A STUN method. Open: any 12-bit value is representable, the known ones have names.
///
/// The value is kept below 0x1000 by construction ([`Method::new`]), so encoding a
/// `MessageType` can never lose bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Method(u16);

impl Method {
    /// Binding (RFC 8489 §18.2).
    pub const BINDING: Self = Self(0x001);
    /// Allocate (RFC 8656 §17).
    pub const ALLOCATE: Self = Self(0x003);
    /// Refresh (RFC 8656 §17).
    pub const REFRESH: Self = Self(0x004);
    /// Send, indication only (RFC 8656 §17).
    pub const SEND: Self = Self(0x006);
    /// Data, indication only (RFC 8656 §17).
    pub const DATA: Self = Self(0x007);
    /// CreatePermission (RFC 8656 §17).
    pub const CREATE_PERMISSION: Self = Self(0x008);
    /// ChannelBind (RFC 8656 §17).
    pub const CHANNEL_BIND: Self = Self(0x009);
    /// Connect (RFC 6062 §6.1).
    pub const CONNECT: Self = Self(0x00A);
    /// ConnectionBind (RFC 6062 §6.1).
    pub const CONNECTION_BIND: Self = Self(0x00B);
    /// ConnectionAttempt, indication only (RFC 6062 §6.1).
    pub const CONNECTION_ATTEMPT: Self = Self(0x00C);

    /// The largest method number that fits the 12 method bits.
    pub const MAX: u16 = 0x0FFF;

    /// A method from its number; `None` if it does not fit in 12 bits.
    pub const fn new(value: u16) -> Option<Self> {
        if value <= Self::MAX {
            Some(Self(value))
        } else {
            None
        }
    }

    /// The method number (0..=0xFFF).
    pub const fn value(self) -> u16 {
        self.0
    }

    /// The IANA name of a known method.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x001 => "Binding",
            0x003 => "Allocate",
            0x004 => "Refresh",
            0x006 => "Send",
            0x007 => "Data",
            0x008 => "CreatePermission",
            0x009 => "ChannelBind",
            0x00A => "Connect",
            0x00B => "ConnectionBind",
            0x00C => "ConnectionAttempt",
            _ => return None,
        })
    }
}

impl fmt::Debug for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Method(0x{:03X})", self.0),
        }
    }
}

/// The class of a STUN message (RFC 8489 §5). All four 2-bit values are defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// 0b00
    Request,
    /// 0b01
    Indication,
    /// 0b10
    SuccessResponse,
    /// 0b11
    ErrorResponse,
}

impl Class {
    const fn bits(self) -> u16 {
        match self {
            Self::Request => 0b00,
            Self::Indication => 0b01,
            Self::SuccessResponse => 0b10,
            Self::ErrorResponse => 0b11,
        }
    }

    const fn from_bits(bits: u16) -> Self {
        match bits & 0b11 {
            0b00 => Self::Request,
            0b01 => Self::Indication,
            0b10 => Self::SuccessResponse,
            _ => Self::ErrorResponse,
        }
    }
}

/// Method and class together: the 14 low bits of the first header word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessageType {
    /// The method.
    pub method: Method,
    /// The class.
    pub class: Class,
}

impl MessageType {
    /// Binding request, the message of STUN and of ICE connectivity checks.
    pub const BINDING_REQUEST: Self = Self::new(Method::BINDING, Class::Request);
    /// Binding success response.
    pub const BINDING_SUCCESS: Self = Self::new(Method::BINDING, Class::SuccessResponse);
    /// Binding error response.
    pub const BINDING_ERROR: Self = Self::new(Method::BINDING, Class::ErrorResponse);
    /// Binding indication (ICE keepalive, RFC 8445 §11).
    pub const BINDING_INDICATION: Self = Self::new(Method::BINDING, Class::Indication);

    /// Method and class.
    pub const fn new(method: Method, class: Class) -> Self {
        Self { method, class }
    }

    /// The 16-bit field as sent: `M11..M7 C1 M6..M4 C0 M3..M0` with the two top bits zero.
    pub const fn to_u16(self) -> u16 {
        let m = self.method.0;
        let c = self.class.bits();
        (m & 0x000F)
            | ((m & 0x0070) << 1)
            | ((m & 0x0F80) << 2)
            | ((c & 0b01) << 4)
            | ((c & 0b10) << 7)
    }

    /// Decodes the 16-bit field; `None` if either of the two top bits is set (RFC 8489 §5:
    /// "The most significant 2 bits of every STUN message MUST be zeroes").
    pub const fn from_u16(value: u16) -> Option<Self> {
        if value & 0xC000 != 0 {
            return None;
        }
        let method = (value & 0x000F) | ((value >> 1) & 0x0070) | ((value >> 2) & 0x0F80);
        let class = ((value >> 4) & 0b01) | ((value >> 7) & 0b10);
        Some(Self { method: Method(method), class: Class::from_bits(class) })
    }

    /// The same method with another class, e.g. the success response to a request.
    pub const fn with_class(self, class: Class) -> Self {
        Self { method: self.method, class }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_type_values() {
        // RFC 8489 §5: Binding request 0x0001, success 0x0101, error 0x0111, indication 0x0011.
        assert_eq!(MessageType::BINDING_REQUEST.to_u16(), 0x0001);
        assert_eq!(MessageType::BINDING_SUCCESS.to_u16(), 0x0101);
        assert_eq!(MessageType::BINDING_ERROR.to_u16(), 0x0111);
        assert_eq!(MessageType::BINDING_INDICATION.to_u16(), 0x0011);
        // RFC 8656: Allocate request 0x0003, success 0x0103; Send indication 0x0016;
        // Data indication 0x0017; ChannelBind error 0x0119.
        assert_eq!(MessageType::new(Method::ALLOCATE, Class::Request).to_u16(), 0x0003);
        assert_eq!(MessageType::new(Method::ALLOCATE, Class::SuccessResponse).to_u16(), 0x0103);
        assert_eq!(MessageType::new(Method::SEND, Class::Indication).to_u16(), 0x0016);
        assert_eq!(MessageType::new(Method::DATA, Class::Indication).to_u16(), 0x0017);
        assert_eq!(MessageType::new(Method::CHANNEL_BIND, Class::ErrorResponse).to_u16(), 0x0119);
        // RFC 6062: ConnectionAttempt indication 0x001C.
        assert_eq!(
            MessageType::new(Method::CONNECTION_ATTEMPT, Class::Indication).to_u16(),
            0x001C
        );
    }

    #[test]
    fn every_type_value_round_trips() {
        for value in 0..=0x3FFFu16 {
            let t = MessageType::from_u16(value).unwrap();
            assert_eq!(t.to_u16(), value);
        }
        for value in 0x4000..=0xFFFFu16 {
            assert_eq!(MessageType::from_u16(value), None);
        }
    }

    #[test]
    fn every_method_and_class_round_trips() {
        for m in 0..=Method::MAX {
            for class in
                [Class::Request, Class::Indication, Class::SuccessResponse, Class::ErrorResponse]
            {
                let t = MessageType::new(Method::new(m).unwrap(), class);
                assert_eq!(MessageType::from_u16(t.to_u16()), Some(t));
            }
        }
        assert_eq!(Method::new(0x1000), None);
    }

    #[test]
    fn display_names() {
        assert_eq!(Method::BINDING.to_string(), "Binding");
        assert_eq!(Method::new(0x123).unwrap().to_string(), "Method(0x123)");
    }
}

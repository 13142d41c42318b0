//! The cosmic-web classes, as the topology layer writes them to `web_class` (Int8) and
//! the simulator's truth and the workflows read them.

/// A cosmic-web class (`web_class`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i8)]
pub enum WebClass {
    /// Below the mean density, away from filaments and nodes.
    Void = 0,
    /// At or above the mean density, away from filaments and nodes (a wall).
    Sheet = 1,
    /// Near a filament of the skeleton.
    Filament = 2,
    /// Near a node (a surviving density maximum).
    Knot = 3,
}

impl WebClass {
    /// Every class, in code order.
    pub const ALL: [WebClass; 4] = [WebClass::Void, WebClass::Sheet, WebClass::Filament, WebClass::Knot];

    /// The stored code.
    pub fn code(self) -> i8 {
        self as i8
    }

    /// The class of a stored code.
    pub fn from_code(code: i64) -> Option<WebClass> {
        Self::ALL.into_iter().find(|c| i64::from(c.code()) == code)
    }

    /// Its name: void, sheet, filament, knot.
    pub fn name(self) -> &'static str {
        match self {
            WebClass::Void => "void",
            WebClass::Sheet => "sheet",
            WebClass::Filament => "filament",
            WebClass::Knot => "knot",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WebClass;

    #[test]
    fn codes_round_trip() {
        for c in WebClass::ALL {
            assert_eq!(WebClass::from_code(i64::from(c.code())), Some(c));
        }
        assert_eq!(WebClass::from_code(4), None);
        assert_eq!(WebClass::Filament.code(), 2);
    }
}

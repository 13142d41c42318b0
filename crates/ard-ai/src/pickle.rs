//! A tolerant reader of Python pickles (protocols 2–4, the opcodes `torch.save` and
//! Lightning checkpoints use), for *data*: it never imports or runs anything. Globals
//! become [`Value::Global`] names, calls become [`Value::Call`] records, so a checkpoint
//! whose `hyper_parameters` hold pickled model objects is read without the classes that
//! made it; the caller walks the tree for what it needs (a `state_dict`).
//! Opcode semantics: Python's `pickletools` documentation (PEP 307 for protocol 2).

use std::cell::RefCell;
use std::rc::Rc;

/// A pickled value.
#[derive(Debug, Clone)]
pub enum Value {
    /// `None`.
    None,
    /// A bool.
    Bool(bool),
    /// An int.
    Int(i64),
    /// A float.
    Float(f64),
    /// A str.
    Str(String),
    /// bytes.
    Bytes(Vec<u8>),
    /// A list (shared: later APPENDs reach every reference).
    List(Rc<RefCell<Vec<Value>>>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A dict (shared), in insertion order.
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    /// A module-level name, not resolved.
    Global(String, String),
    /// `callable(*args)` (REDUCE, NEWOBJ), with the state a later BUILD gave it.
    Call(Rc<RefCell<Call>>),
    /// A persistent id (torch: a storage reference).
    PersistentId(Box<Value>),
}

/// A call record.
#[derive(Debug, Clone)]
pub struct Call {
    /// What is called.
    pub func: Value,
    /// Its arguments.
    pub args: Value,
    /// State set by BUILD.
    pub state: Option<Value>,
}

impl Value {
    /// The string, if a str.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The int, if an int.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }
    /// Tuple or list items.
    pub fn items(&self) -> Option<Vec<Value>> {
        match self {
            Value::Tuple(v) => Some(v.clone()),
            Value::List(l) => Some(l.borrow().clone()),
            _ => None,
        }
    }
    /// Dict entries (also of an `OrderedDict()` call whose items were set later).
    pub fn entries(&self) -> Option<Vec<(Value, Value)>> {
        match self {
            Value::Dict(d) => Some(d.borrow().clone()),
            _ => None,
        }
    }
    /// The value under string key `key` of a dict.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.entries()?.into_iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }
}

/// Why a pickle could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pickle at byte {offset}: {message}")]
pub struct PickleError {
    /// Byte offset.
    pub offset: usize,
    /// What went wrong.
    pub message: String,
}

enum Item {
    Mark,
    V(Value),
}

/// Reads one pickle.
pub fn read(data: &[u8]) -> Result<Value, PickleError> {
    let mut pos = 0usize;
    let mut stack: Vec<Item> = Vec::new();
    let mut memo: std::collections::HashMap<u64, Value> = std::collections::HashMap::new();
    let err = |pos: usize, m: &str| PickleError { offset: pos, message: m.to_string() };
    macro_rules! take {
        ($n:expr) => {{
            let n = $n;
            if pos + n > data.len() {
                return Err(err(pos, "truncated"));
            }
            let s = &data[pos..pos + n];
            pos += n;
            s
        }};
    }
    macro_rules! pop {
        () => {
            match stack.pop() {
                Some(Item::V(v)) => v,
                _ => return Err(err(pos, "stack underflow")),
            }
        };
    }
    let pop_mark = |stack: &mut Vec<Item>, pos: usize| -> Result<Vec<Value>, PickleError> {
        let mut items = Vec::new();
        loop {
            match stack.pop() {
                Some(Item::Mark) => break,
                Some(Item::V(v)) => items.push(v),
                None => return Err(err(pos, "no MARK")),
            }
        }
        items.reverse();
        Ok(items)
    };
    let u32le = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    loop {
        let op = take!(1)[0];
        match op {
            0x80 => {
                take!(1);
            } // PROTO
            0x95 => {
                take!(8);
            } // FRAME
            b'.' => break, // STOP
            b'(' => stack.push(Item::Mark),
            b'N' => stack.push(Item::V(Value::None)),
            0x88 => stack.push(Item::V(Value::Bool(true))),
            0x89 => stack.push(Item::V(Value::Bool(false))),
            b'K' => {
                let b = take!(1)[0];
                stack.push(Item::V(Value::Int(b as i64)))
            }
            b'M' => {
                let b = take!(2);
                stack.push(Item::V(Value::Int(u16::from_le_bytes([b[0], b[1]]) as i64)))
            }
            b'J' => {
                let b = take!(4);
                stack.push(Item::V(Value::Int(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64)))
            }
            0x8a => {
                // LONG1: little-endian two's complement of n bytes.
                let n = take!(1)[0] as usize;
                let b = take!(n);
                let mut v: i64 = 0;
                for (i, &x) in b.iter().enumerate().take(8) {
                    v |= (x as i64) << (8 * i);
                }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(Item::V(Value::Int(v)))
            }
            b'G' => {
                let b = take!(8);
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                stack.push(Item::V(Value::Float(f64::from_be_bytes(a))))
            }
            b'X' => {
                let n = u32le(take!(4));
                let s = String::from_utf8_lossy(take!(n)).into_owned();
                stack.push(Item::V(Value::Str(s)))
            }
            0x8c => {
                let n = take!(1)[0] as usize;
                let s = String::from_utf8_lossy(take!(n)).into_owned();
                stack.push(Item::V(Value::Str(s)))
            }
            b'T' | b'B' => {
                let n = u32le(take!(4));
                let s = take!(n).to_vec();
                stack.push(Item::V(if op == b'T' { Value::Str(String::from_utf8_lossy(&s).into_owned()) } else { Value::Bytes(s) }))
            }
            b'U' | b'C' => {
                let n = take!(1)[0] as usize;
                let s = take!(n).to_vec();
                stack.push(Item::V(if op == b'U' { Value::Str(String::from_utf8_lossy(&s).into_owned()) } else { Value::Bytes(s) }))
            }
            b'}' => stack.push(Item::V(Value::Dict(Rc::new(RefCell::new(Vec::new()))))),
            b']' => stack.push(Item::V(Value::List(Rc::new(RefCell::new(Vec::new()))))),
            b')' => stack.push(Item::V(Value::Tuple(Vec::new()))),
            0x8f => stack.push(Item::V(Value::List(Rc::new(RefCell::new(Vec::new()))))), // EMPTY_SET as a list
            b't' => {
                let items = pop_mark(&mut stack, pos)?;
                stack.push(Item::V(Value::Tuple(items)))
            }
            b'l' => {
                let items = pop_mark(&mut stack, pos)?;
                stack.push(Item::V(Value::List(Rc::new(RefCell::new(items)))))
            }
            b'd' => {
                let items = pop_mark(&mut stack, pos)?;
                let pairs = items.chunks(2).filter(|c| c.len() == 2).map(|c| (c[0].clone(), c[1].clone())).collect();
                stack.push(Item::V(Value::Dict(Rc::new(RefCell::new(pairs)))))
            }
            0x85 => {
                let a = pop!();
                stack.push(Item::V(Value::Tuple(vec![a])))
            }
            0x86 => {
                let b = pop!();
                let a = pop!();
                stack.push(Item::V(Value::Tuple(vec![a, b])))
            }
            0x87 => {
                let c = pop!();
                let b = pop!();
                let a = pop!();
                stack.push(Item::V(Value::Tuple(vec![a, b, c])))
            }
            b'a' => {
                let v = pop!();
                if let Some(Item::V(Value::List(l))) = stack.last() {
                    l.borrow_mut().push(v);
                }
            }
            b'e' | 0x90 => {
                // APPENDS / ADDITEMS
                let items = pop_mark(&mut stack, pos)?;
                if let Some(Item::V(Value::List(l))) = stack.last() {
                    l.borrow_mut().extend(items);
                }
            }
            b's' => {
                let v = pop!();
                let k = pop!();
                set_items(stack.last(), vec![k, v]);
            }
            b'u' => {
                let items = pop_mark(&mut stack, pos)?;
                set_items(stack.last(), items);
            }
            b'c' => {
                // GLOBAL "module\nname\n"
                let rest = &data[pos..];
                let line = |from: usize| rest[from..].iter().position(|&b| b == b'\n').map(|p| from + p);
                let e1 = line(0).ok_or_else(|| err(pos, "GLOBAL without newline"))?;
                let e2 = line(e1 + 1).ok_or_else(|| err(pos, "GLOBAL without newline"))?;
                let module = String::from_utf8_lossy(&rest[..e1]).into_owned();
                let name = String::from_utf8_lossy(&rest[e1 + 1..e2]).into_owned();
                pos += e2 + 1;
                stack.push(Item::V(Value::Global(module, name)))
            }
            0x93 => {
                // STACK_GLOBAL
                let name = pop!();
                let module = pop!();
                stack.push(Item::V(Value::Global(module.as_str().unwrap_or("").into(), name.as_str().unwrap_or("").into())))
            }
            b'R' | 0x81 => {
                // REDUCE / NEWOBJ
                let args = pop!();
                let func = pop!();
                let v = match &func {
                    // An OrderedDict() is a dict for our purposes (items are set later).
                    Value::Global(m, n) if m == "collections" && n == "OrderedDict" => Value::Dict(Rc::new(RefCell::new(Vec::new()))),
                    _ => Value::Call(Rc::new(RefCell::new(Call { func, args, state: None }))),
                };
                stack.push(Item::V(v))
            }
            b'b' => {
                // BUILD
                let state = pop!();
                // A dict's BUILD state is its attributes (an OrderedDict's `_metadata`), not
                // items: only a call's state is kept.
                if let Some(Item::V(Value::Call(c))) = stack.last() {
                    c.borrow_mut().state = Some(state);
                }
            }
            b'Q' => {
                // BINPERSID
                let id = pop!();
                stack.push(Item::V(Value::PersistentId(Box::new(id))))
            }
            b'q' => {
                let k = take!(1)[0] as u64;
                if let Some(Item::V(v)) = stack.last() {
                    memo.insert(k, v.clone());
                }
            }
            b'r' => {
                let k = u32le(take!(4)) as u64;
                if let Some(Item::V(v)) = stack.last() {
                    memo.insert(k, v.clone());
                }
            }
            0x94 => {
                // MEMOIZE
                let k = memo.len() as u64;
                if let Some(Item::V(v)) = stack.last() {
                    memo.insert(k, v.clone());
                }
            }
            b'h' => {
                let k = take!(1)[0] as u64;
                stack.push(Item::V(memo.get(&k).cloned().ok_or_else(|| err(pos, "BINGET of an unknown memo slot"))?))
            }
            b'j' => {
                let k = u32le(take!(4)) as u64;
                stack.push(Item::V(memo.get(&k).cloned().ok_or_else(|| err(pos, "LONG_BINGET of an unknown memo slot"))?))
            }
            b'0' => {
                stack.pop();
            }
            other => return Err(err(pos - 1, &format!("unsupported opcode 0x{other:02x}"))),
        }
    }
    match stack.pop() {
        Some(Item::V(v)) => Ok(v),
        _ => Err(err(pos, "empty stack at STOP")),
    }
}

fn set_items(target: Option<&Item>, items: Vec<Value>) {
    let pairs = items.chunks(2).filter(|c| c.len() == 2).map(|c| (c[0].clone(), c[1].clone()));
    match target {
        Some(Item::V(Value::Dict(d))) => d.borrow_mut().extend(pairs),
        Some(Item::V(Value::Call(c))) => {
            // setitems on an object (a dict subclass such as AttributeDict): keep them as its state.
            let mut c = c.borrow_mut();
            let d = match &c.state {
                Some(Value::Dict(d)) => d.clone(),
                _ => {
                    let d = Rc::new(RefCell::new(Vec::new()));
                    c.state = Some(Value::Dict(d.clone()));
                    d
                }
            };
            d.borrow_mut().extend(pairs);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pickle.dumps({"a": [1, 2.5, "x"], "b": (None, True)}, protocol=2)`.
    #[test]
    fn reads_a_protocol_2_dict() {
        let data: &[u8] = b"\x80\x02\x7d\x71\x00\x28\x58\x01\x00\x00\x00\x61\x71\x01\x5d\x71\x02\x28\x4b\x01\x47\x40\x04\x00\x00\x00\x00\x00\x00\x58\x01\x00\x00\x00\x78\x71\x03\x65\x58\x01\x00\x00\x00\x62\x71\x04\x4e\x88\x86\x71\x05\x75\x2e";
        let v = read(data).unwrap();
        let a = v.get("a").unwrap().items().unwrap();
        assert_eq!(a[0].as_int(), Some(1));
        assert!(matches!(a[1], Value::Float(f) if f == 2.5));
        assert_eq!(a[2].as_str(), Some("x"));
        let b = v.get("b").unwrap().items().unwrap();
        assert!(matches!(b[0], Value::None) && b[1].as_int() == Some(1));
        assert!(read(&data[..20]).is_err());
    }
}

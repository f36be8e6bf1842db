//! The `text/event-stream` format: an incremental, bounded parser of server-sent events.

use super::Failure;
use super::http1::MAX_LINE;

/// Largest event (all its `data:` lines together) an event-stream parser assembles.
pub const MAX_EVENT: usize = 1024 * 1024;

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// Incremental `text/event-stream` parser; comments (heartbeats) are counted, not returned.
/// Bounded: a line over `MAX_LINE` or an event over `MAX_EVENT` is an error, and each
/// byte is scanned for a line end once.
#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
    /// How much of `pending` is known to hold no `\n`.
    scanned: usize,
    current: SseEvent,
    has_field: bool,
    pub comments: u64,
}

impl SseParser {
    /// Feeds bytes; returns the events they complete, or why the stream is unusable
    /// (a line or an event beyond the limits; the parser is reset).
    pub fn try_push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, Failure> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        let mut from = self.scanned;
        while let Some(nl) = self.pending[from..].iter().position(|&b| b == b'\n') {
            let end = from + nl;
            let line = self.pending[start..end].strip_suffix(b"\r").unwrap_or(&self.pending[start..end]);
            let line = String::from_utf8_lossy(line).into_owned();
            start = end + 1;
            from = start;
            self.line(&line, &mut events);
            if self.current.data.len() > MAX_EVENT {
                *self = SseParser { comments: self.comments, ..SseParser::default() };
                return Err(Failure::Other(format!("an event larger than {} KiB", MAX_EVENT / 1024)));
            }
        }
        self.pending.drain(..start);
        self.scanned = self.pending.len();
        if self.pending.len() > MAX_LINE {
            *self = SseParser { comments: self.comments, ..SseParser::default() };
            return Err(Failure::Other(format!("an event-stream line longer than {} KiB", MAX_LINE / 1024)));
        }
        Ok(events)
    }

    fn line(&mut self, line: &str, events: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if self.has_field {
                events.push(std::mem::take(&mut self.current));
                self.has_field = false;
            }
            return;
        }
        if line.starts_with(':') {
            self.comments += 1;
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        self.has_field = true;
        match field {
            "data" => {
                if !self.current.data.is_empty() {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
            }
            "id" => self.current.id = Some(value.to_string()),
            "event" => self.current.event = Some(value.to_string()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_event_streams_across_splits() {
        let mut p = SseParser::default();
        assert!(p.try_push(b":ping\n\nid: 1\r\ndata: a").unwrap().is_empty());
        let ev = p.try_push(b"\ndata: b\n\n").unwrap();
        assert_eq!(ev, vec![SseEvent { id: Some("1".into()), event: None, data: "a\nb".into() }]);
        assert_eq!(p.comments, 1);
    }

    #[test]
    fn event_stream_lines_and_events_are_bounded() {
        let mut p = SseParser::default();
        // Fed in small pieces, a long line is scanned once and refused past the cap.
        let piece = [b'x'; 4096];
        let mut refused = false;
        for _ in 0..=MAX_LINE / piece.len() {
            if p.try_push(&piece).is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused, "a line over MAX_LINE must be an error");
        // The parser is usable again afterwards.
        assert_eq!(p.try_push(b"data: ok\n\n").unwrap().len(), 1);
        let line = format!("data: {}\n", "y".repeat(MAX_LINE / 2));
        let mut err = None;
        for _ in 0..(MAX_EVENT / (MAX_LINE / 2) + 2) {
            if let Err(e) = p.try_push(line.as_bytes()) {
                err = Some(e);
                break;
            }
        }
        assert!(err.is_some_and(|e| e.to_string().contains("event larger")));
    }
}

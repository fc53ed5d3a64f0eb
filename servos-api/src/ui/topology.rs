//! The mesh as a picture, rendered on the server as SVG: nodes on a circle,
//! a line between each pair of peers coloured by their WireGuard handshake
//! age (green fresh, amber stale, red old or never), and the policy's
//! node-to-node rules as dashed arrows labelled with what they allow.

use std::f64::consts::PI;
use std::fmt::Write as _;

/// Side of the square picture, in SVG units.
const SIZE: f64 = 560.0;
/// Radius of the circle the nodes sit on.
const RING: f64 = 200.0;
/// Radius of a node's dot.
const DOT: f64 = 16.0;
/// A handshake at most this old is fresh (WireGuard renews it every 2 minutes).
pub const FRESH_SECS: u64 = 180;
/// At most this old, stale; older, old.
pub const STALE_SECS: u64 = 600;

/// A node in the picture.
#[derive(Debug, Clone)]
pub struct TopoNode {
    /// Name.
    pub name: String,
    /// Mesh address.
    pub address: String,
    /// False when its token is revoked or it never reported.
    pub healthy: bool,
}

/// A pair of peers and how fresh their handshake is.
#[derive(Debug, Clone, Copy)]
pub struct TopoLink {
    /// Index of one node.
    pub a: usize,
    /// Index of the other.
    pub b: usize,
    /// Seconds since their last handshake, when they had one.
    pub handshake_age: Option<u64>,
}

/// A rule between two nodes.
#[derive(Debug, Clone)]
pub struct TopoRule {
    /// Index of the source node.
    pub from: usize,
    /// Index of the destination node.
    pub to: usize,
    /// What it allows (`tcp/8080`).
    pub label: String,
}

/// The colour class of a link of this handshake age.
pub fn link_class(age: Option<u64>) -> &'static str {
    match age {
        Some(secs) if secs <= FRESH_SECS => "link-fresh",
        Some(secs) if secs <= STALE_SECS => "link-stale",
        _ => "link-old",
    }
}

/// Text safe inside SVG (an XML document).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Where node `index` of `count` sits.
fn place(index: usize, count: usize) -> (f64, f64) {
    if count == 1 {
        return (SIZE / 2.0, SIZE / 2.0);
    }
    let angle = 2.0 * PI * index as f64 / count as f64 - PI / 2.0;
    (
        SIZE / 2.0 + RING * angle.cos(),
        SIZE / 2.0 + RING * angle.sin(),
    )
}

/// The SVG document of the mesh.
pub fn render(nodes: &[TopoNode], links: &[TopoLink], rules: &[TopoRule]) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {SIZE} {SIZE}\" class=\"topology\" \
         role=\"img\" aria-label=\"Mesh topology: {} nodes\">\
         <defs><marker id=\"rule-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path d=\"M 0 0 L 10 5 L 0 10 z\" class=\"rule-head\"/></marker></defs>",
        nodes.len()
    );
    let at = |index: usize| place(index, nodes.len());
    for link in links
        .iter()
        .filter(|l| l.a < nodes.len() && l.b < nodes.len())
    {
        let ((x1, y1), (x2, y2)) = (at(link.a), at(link.b));
        let age = link.handshake_age.map_or_else(
            || "no handshake yet".to_owned(),
            |s| format!("handshake {s} s ago"),
        );
        let _ = write!(
            svg,
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" class=\"link {}\">\
             <title>{} – {}: {age}</title></line>",
            link_class(link.handshake_age),
            escape(&nodes[link.a].name),
            escape(&nodes[link.b].name),
        );
    }
    for rule in rules
        .iter()
        .filter(|r| r.from < nodes.len() && r.to < nodes.len())
    {
        let ((x1, y1), (x2, y2)) = (at(rule.from), at(rule.to));
        // Stop at the destination's dot, and bend a little so that two
        // opposite rules do not hide each other.
        let (dx, dy) = (x2 - x1, y2 - y1);
        let length = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ex, ey) = (
            x2 - dx / length * (DOT + 4.0),
            y2 - dy / length * (DOT + 4.0),
        );
        let (cx, cy) = (
            (x1 + ex) / 2.0 - dy / length * 24.0,
            (y1 + ey) / 2.0 + dx / length * 24.0,
        );
        let _ = write!(
            svg,
            "<path d=\"M {x1:.1} {y1:.1} Q {cx:.1} {cy:.1} {ex:.1} {ey:.1}\" class=\"rule\" \
             marker-end=\"url(#rule-arrow)\"><title>{} → {}: {}</title></path>\
             <text x=\"{cx:.1}\" y=\"{cy:.1}\" class=\"rule-label\">{}</text>",
            escape(&nodes[rule.from].name),
            escape(&nodes[rule.to].name),
            escape(&rule.label),
            escape(&rule.label),
        );
    }
    for (index, node) in nodes.iter().enumerate() {
        let (x, y) = at(index);
        let class = if node.healthy {
            "node"
        } else {
            "node node-down"
        };
        let _ = write!(
            svg,
            "<g class=\"{class}\"><circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{DOT}\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" class=\"node-name\">{}</text>\
             <text x=\"{x:.1}\" y=\"{:.1}\" class=\"node-address\">{}</text></g>",
            y + DOT + 16.0,
            escape(&node.name),
            y + DOT + 30.0,
            escape(&node.address),
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> TopoNode {
        TopoNode {
            name: name.to_owned(),
            address: "10.210.0.1".to_owned(),
            healthy: true,
        }
    }

    #[test]
    fn links_are_coloured_by_handshake_age_and_names_escaped() {
        let nodes = [node("web-1"), node("<b>&evil")];
        let links = [TopoLink {
            a: 0,
            b: 1,
            handshake_age: Some(12),
        }];
        let rules = [TopoRule {
            from: 0,
            to: 1,
            label: "tcp/8080".to_owned(),
        }];
        let svg = render(&nodes, &links, &rules);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("link link-fresh") && svg.contains("tcp/8080"));
        assert!(svg.contains("&lt;b&gt;&amp;evil") && !svg.contains("<b>"));
        assert_eq!(link_class(Some(400)), "link-stale");
        assert_eq!(link_class(Some(4000)), "link-old");
        assert_eq!(link_class(None), "link-old");
    }
}

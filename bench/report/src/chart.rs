//! The SVG charts (plotters).

use std::path::Path;

use plotters::prelude::*;

use crate::format::{count, short};
use crate::results::{Results, Scenario, FLOOR, SERVERS};

/// Draws one chart: a field's median against the number of clients, one
/// line per server, both axes logarithmic.
pub(crate) fn chart(
    res: &Results,
    sc: &Scenario,
    field: &str,
    y_label: &str,
    file: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let clients = res.clients(sc.key);
    let mut servers: Vec<(&str, String)> = SERVERS
        .iter()
        .map(|s| {
            let label = match *s {
                "rust peer" => format!("Rust peer: {}", sc.peer.replace('`', "")),
                "python" => format!("Python: {}", sc.python.replace('`', "")),
                other => other.to_owned(),
            };
            (*s, label)
        })
        .collect();
    if sc.key == "rpc" && field == "per_second" {
        servers.push((FLOOR, "hyper fixed 200 (HTTP floor)".into()));
    }
    let scenario_of = |s: &str| if s == FLOOR { "floor" } else { sc.key };
    let points: Vec<Vec<(f64, f64)>> = servers
        .iter()
        .map(|(s, _)| {
            clients
                .iter()
                .filter_map(|&c| {
                    res.stat(scenario_of(s), s, c, field)
                        .filter(|st| st.median > 0.0)
                        .map(|st| (c as f64, st.median))
                })
                .collect()
        })
        .collect();
    let ys: Vec<f64> = points.iter().flatten().map(|p| p.1).collect();
    if ys.is_empty() || clients.is_empty() {
        return Ok(());
    }
    let (ymin, ymax) = ys
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &y| (a.min(y), b.max(y)));
    let (xmin, xmax) = (clients[0] as f64, clients[clients.len() - 1] as f64);
    let root = SVGBackend::new(file, (720, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut c = ChartBuilder::on(&root)
        .caption(format!("{}: {y_label}", sc.title), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (xmin * 0.8..xmax * 1.25).log_scale(),
            // Room below the lowest line for the legend.
            (ymin * 0.08..ymax * 2.0).log_scale(),
        )?;
    c.configure_mesh()
        .x_desc("clients")
        .y_desc(y_label)
        .y_label_formatter(&|y| short(*y))
        .x_label_formatter(&|x| count(*x))
        .draw()?;
    let colors = [
        RGBColor(0xd6, 0x27, 0x28),
        RGBColor(0xff, 0x7f, 0x0e),
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0x2c, 0xa0, 0x2c),
        RGBColor(0x7f, 0x7f, 0x7f),
    ];
    for (((_, label), pts), color) in servers.iter().zip(&points).zip(colors) {
        if pts.is_empty() {
            continue;
        }
        c.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        c.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

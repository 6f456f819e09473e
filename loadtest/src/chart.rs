//! The SVG chart (plotters, SVG backend only): two grouped bar charts, req/s
//! and server CPU per request, one group per scenario and one colour per
//! target. Log scale: pipelined plaintext and 1 MiB files differ by 1000x.
//! Medians of the successful rounds only; `idle` (bytes, not requests) is
//! left out.

use std::path::Path;

use plotters::prelude::*;

use crate::report::{cells, Cell, Run};

const PALETTE: &[RGBColor] = &[
    RGBColor(0xd6, 0x27, 0x28), // percore-hello: red
    RGBColor(0x99, 0x10, 0x10), // percore-server: dark red
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// Write the chart of `runs` to `path`.
pub fn write_svg(runs: &[Run], path: &Path, title: &str) -> Result<(), String> {
    let (scenarios, targets, cells) = cells(runs);
    let scenarios: Vec<String> = scenarios.into_iter().filter(|s| s != "idle").collect();
    let value = |s: &String, t: &String, cpu: bool| match cells.get(&(s.clone(), t.clone())) {
        Some(Cell::Ok {
            rps,
            cpu_us_per_req,
            ..
        }) => Some(if cpu { *cpu_us_per_req } else { *rps }),
        _ => None,
    };
    let width = (160 + scenarios.len() * 30 * targets.len().max(1)).clamp(900, 1600) as u32;
    let root = SVGBackend::new(path, (width, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(title, ("sans-serif", 22))
        .map_err(|e| e.to_string())?;
    let (top, bottom) = root.split_vertically(420);
    for (area, cpu) in [(top, false), (bottom, true)] {
        let values: Vec<f64> = scenarios
            .iter()
            .flat_map(|s| targets.iter().filter_map(move |t| value(s, t, cpu)))
            .filter(|v| v.is_finite() && *v > 0.0)
            .collect();
        let max = values.iter().copied().fold(1.0f64, f64::max);
        let min = values.iter().copied().fold(max, f64::min);
        // Whole decades, with one spare on top for the legend.
        let (lo, hi) = (
            10f64.powf(min.log10().floor()),
            10f64.powf(max.log10().ceil() + 1.0),
        );
        let y_desc = if cpu {
            "server CPU per request (us)"
        } else {
            "requests per second"
        };
        let mut chart = ChartBuilder::on(&area)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .caption(y_desc, ("sans-serif", 16))
            .build_cartesian_2d(0f64..scenarios.len().max(1) as f64, (lo..hi).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc(y_desc)
            .y_label_formatter(&|v| {
                if cpu || *v < 1e3 {
                    format!("{v}")
                } else if *v < 1e6 {
                    format!("{}k", v / 1e3)
                } else {
                    format!("{}M", v / 1e6)
                }
            })
            .draw()
            .map_err(|e| e.to_string())?;
        // Scenario names under their group of bars.
        for (i, s) in scenarios.iter().enumerate() {
            let label = EmptyElement::at((i as f64 + 0.5, lo))
                + Text::new(
                    s.clone(),
                    (-(s.len() as i32) * 3, 8),
                    ("sans-serif", 13).into_font(),
                );
            chart
                .plotting_area()
                .draw(&label)
                .map_err(|e| e.to_string())?;
        }
        let bar = 0.8 / targets.len().max(1) as f64;
        for (k, t) in targets.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let bars: Vec<Rectangle<(f64, f64)>> = scenarios
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    let v = value(s, t, cpu)?;
                    let x0 = i as f64 + 0.1 + k as f64 * bar;
                    Some(Rectangle::new(
                        [(x0, lo), (x0 + bar * 0.9, v)],
                        color.filled(),
                    ))
                })
                .collect();
            chart
                .draw_series(bars)
                .map_err(|e| e.to_string())?
                .label(t.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Status;

    #[test]
    fn writes_an_svg() {
        let mut runs = Vec::new();
        for (s, t, rps) in [
            ("plaintext", "percore-hello", 100.0),
            ("plaintext", "nginx", 80.0),
            ("json", "nginx", 70.0),
        ] {
            let target = crate::targets::Target::probe(t, Path::new("/nonexistent")).unwrap();
            let mut r = Run::new(1, s, &target, 1, 64, 1);
            r.status = Status::Ok;
            r.rps = rps;
            r.cpu_us_per_req = 1.5;
            runs.push(r);
        }
        let path =
            std::env::temp_dir().join(format!("percore-loadtest-chart-{}.svg", std::process::id()));
        write_svg(&runs, &path, "test").unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("plaintext") && svg.contains("nginx"));
    }
}

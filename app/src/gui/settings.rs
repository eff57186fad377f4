//! What the window remembers between starts (eframe storage): the paper display, the
//! workspace, the open case or file, and the run panel's engine settings. Every value is
//! checked when read back: a stale or hand-edited value falls back to the default instead of
//! reaching the view.

use std::path::PathBuf;

use ecgr1_engine::StandardLead;
use ecgr1_engine::display_filter::DisplayFilters;
use ecgr1_engine::render::Layout;
use ecgr1_ui::PaperSettings;
use serde::{Deserialize, Serialize};

use super::Workspace;
use super::reading_room::run::RunSettings;

/// The storage key.
pub const STORAGE_KEY: &str = "ecgr1.workstation";

/// What was open in the reading room.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OpenItem {
    File(PathBuf),
    Case(i64),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PersistedState {
    pub workspace: Option<String>,
    pub layout: Option<String>,
    pub speed_mm_s: Option<f64>,
    pub gain_mm_mv: Option<f64>,
    pub rhythm_lead: Option<StandardLead>,
    pub zoom: Option<f32>,
    pub filters: Option<DisplayFilters>,
    pub true_size: Option<bool>,
    /// The monitor's calibrated resolution for true size, dpi.
    pub screen_dpi: Option<f32>,
    pub open: Option<OpenItem>,
    pub run: Option<RunSettings>,
}

fn workspace_key(ws: Workspace) -> &'static str {
    match ws {
        Workspace::ReadingRoom => "reading_room",
        Workspace::Auditor => "auditor",
        Workspace::Teaching => "teaching",
    }
}

impl PersistedState {
    pub fn capture(
        workspace: Workspace,
        paper: &PaperSettings,
        open: Option<OpenItem>,
        run: &RunSettings,
    ) -> Self {
        Self {
            workspace: Some(workspace_key(workspace).to_string()),
            layout: Some(paper.layout.name().to_string()),
            speed_mm_s: Some(paper.speed_mm_s),
            gain_mm_mv: Some(paper.gain_mm_mv),
            rhythm_lead: Some(paper.rhythm_lead),
            zoom: Some(paper.zoom),
            filters: Some(paper.filters),
            true_size: Some(paper.true_size),
            screen_dpi: paper.screen_dpi,
            open,
            run: Some(run.clone()),
        }
    }

    pub fn workspace(&self) -> Workspace {
        Workspace::ALL
            .into_iter()
            .find(|ws| self.workspace.as_deref() == Some(workspace_key(*ws)))
            .unwrap_or(Workspace::ReadingRoom)
    }

    /// The paper settings, each value kept only when it is one the toolbar offers.
    pub fn paper(&self) -> PaperSettings {
        let d = PaperSettings::default();
        let (lo, hi) = PaperSettings::ZOOM_RANGE;
        PaperSettings {
            layout: self
                .layout
                .as_deref()
                .and_then(|l| l.parse::<Layout>().ok())
                .unwrap_or(d.layout),
            speed_mm_s: self
                .speed_mm_s
                .filter(|s| PaperSettings::SPEEDS_MM_S.contains(s))
                .unwrap_or(d.speed_mm_s),
            gain_mm_mv: self
                .gain_mm_mv
                .filter(|g| PaperSettings::GAINS_MM_MV.contains(g))
                .unwrap_or(d.gain_mm_mv),
            rhythm_lead: self.rhythm_lead.unwrap_or(d.rhythm_lead),
            zoom: self
                .zoom
                .filter(|z| z.is_finite() && (lo..=hi).contains(z))
                .unwrap_or(d.zoom),
            filters: self.filters.unwrap_or_default(),
            // A caliper drag mode left on would surprise at the next start.
            calipers: false,
            true_size: self.true_size.unwrap_or(false),
            screen_dpi: self.screen_dpi.filter(|d| {
                d.is_finite()
                    && (PaperSettings::DPI_RANGE.0..=PaperSettings::DPI_RANGE.1).contains(d)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecgr1_engine::display_filter::MainsHz;

    #[test]
    fn settings_round_trip_and_bad_values_fall_back() {
        let paper = PaperSettings {
            layout: Layout::SixByTwo,
            speed_mm_s: 50.0,
            gain_mm_mv: 20.0,
            rhythm_lead: StandardLead::V1,
            zoom: 2.0,
            filters: DisplayFilters {
                baseline: true,
                mains: Some(MainsHz::Sixty),
                low_pass_40: false,
            },
            calipers: false,
            true_size: true,
            screen_dpi: Some(109.0),
        };
        let run = RunSettings {
            checkpoint: "/models/ecg-r1".into(),
            ..RunSettings::default()
        };
        let state =
            PersistedState::capture(Workspace::Auditor, &paper, Some(OpenItem::Case(4)), &run);
        let text = serde_json::to_string(&state).unwrap();
        let back: PersistedState = serde_json::from_str(&text).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.paper(), paper);
        assert_eq!(back.workspace(), Workspace::Auditor);
        assert_eq!(back.run.unwrap().checkpoint, "/models/ecg-r1");

        let odd: PersistedState = serde_json::from_str(
            r#"{"layout":"7x7","speed_mm_s":33.0,"gain_mm_mv":10.0,"zoom":1e9,"workspace":"lab","unknown":1}"#,
        )
        .unwrap();
        let p = odd.paper();
        assert_eq!(p.layout, Layout::ThreeByFour);
        assert_eq!(p.speed_mm_s, 25.0);
        assert_eq!(p.gain_mm_mv, 10.0);
        assert_eq!(p.zoom, 1.0);
        assert_eq!(odd.workspace(), Workspace::ReadingRoom);
    }
}

//! Pure pieces of creating and linking work items from Sentry: titles, descriptions, the
//! patch, and reading a work item reference a person typed.

use serde_json::Value;

use crate::azure_devops::patch;

/// Azure DevOps titles hold 255 characters; the incumbent and this bridge keep them short.
pub const MAX_TITLE_CHARS: usize = 128;
pub const SENTRY_TAG: &str = "sentry";

/// `title` cut to 128 characters, ending in `...` when cut; blank → a fallback.
pub fn work_item_title(title: &str, fallback: &str) -> String {
    let title = title.trim();
    let title = if title.is_empty() { fallback.trim() } else { title };
    if title.chars().count() <= MAX_TITLE_CHARS {
        return title.to_string();
    }
    let kept: String = title.chars().take(MAX_TITLE_CHARS - 3).collect();
    format!("{}...", kept.trim_end())
}

/// The description: what the person wrote, then a link back to the Sentry issue (Markdown).
pub fn description_markdown(text: &str, sentry_url: &str) -> String {
    let text = text.trim();
    let link = format!("[View the issue in Sentry]({sentry_url})");
    if text.is_empty() {
        link
    } else {
        format!("{text}\n\n{link}")
    }
}

/// The same as HTML, for Azure DevOps Server (no Markdown fields).
pub fn description_html(text: &str, sentry_url: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let body = escape(text.trim()).replace('\n', "<br>");
    format!(
        "<div>{body}</div><div><a href=\"{}\">View the issue in Sentry</a></div>",
        escape(sentry_url)
    )
}

/// `sentry; tag a; tag b` from optional extra tags (comma or semicolon separated).
pub fn tags(extra: Option<&str>) -> String {
    let mut all = vec![SENTRY_TAG.to_string()];
    for tag in extra
        .unwrap_or_default()
        .split([',', ';'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        if !all.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
            all.push(tag.to_string());
        }
    }
    all.join("; ")
}

/// What a new work item gets from a Sentry issue.
pub struct NewWorkItem<'a> {
    pub title: String,
    pub description: &'a str,
    pub sentry_url: &'a str,
    pub work_item_type: &'a str,
    pub markdown: bool,
    pub area_path: Option<&'a str>,
    pub iteration_path: Option<&'a str>,
    pub tags: Option<&'a str>,
    pub assignee: Option<&'a str>,
    /// A line at the end of the description (e.g. which alert rule created it).
    pub footer: Option<String>,
}

/// The JSON Patch that creates the work item in one call.
pub fn create_patch(item: &NewWorkItem<'_>) -> Vec<Value> {
    let mut text = item.description.to_string();
    if let Some(footer) = &item.footer {
        text = format!("{text}\n\n{footer}");
    }
    let description = if item.markdown {
        description_markdown(&text, item.sentry_url)
    } else {
        description_html(&text, item.sentry_url)
    };
    let mut ops = vec![
        patch::field("System.Title", item.title.clone()),
        patch::field("System.Description", description.clone()),
    ];
    if item.markdown {
        ops.push(patch::add("/multilineFieldsFormat/System.Description", "Markdown"));
    }
    if item.work_item_type.eq_ignore_ascii_case("Bug") {
        // Agile/Scrum/CMMI bugs show Repro Steps, not Description.
        ops.push(patch::field(
            "Microsoft.VSTS.TCM.ReproSteps",
            description_html(&text, item.sentry_url),
        ));
    }
    ops.push(patch::field("System.Tags", tags(item.tags)));
    for (field, value) in [
        ("System.AreaPath", item.area_path),
        ("System.IterationPath", item.iteration_path),
        ("System.AssignedTo", item.assignee),
    ] {
        if let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) {
            ops.push(patch::field(field, value));
        }
    }
    ops.push(patch::hyperlink(item.sentry_url, "Sentry issue"));
    ops
}

/// A work item id from what a person typed: `4321`, `#4321`, or a work item URL
/// (`…/_workitems/edit/4321`, `…/_workitems?id=4321`, `…/_apis/wit/workItems/4321`).
pub fn work_item_reference(text: &str) -> Option<u64> {
    let text = text.trim().trim_start_matches('#');
    if let Ok(id) = text.parse::<u64>() {
        return Some(id).filter(|id| *id > 0);
    }
    let url = url::Url::parse(text).ok()?;
    if let Some((_, id)) = url.query_pairs().find(|(name, _)| name == "id") {
        return id.parse().ok();
    }
    let segments: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
    let position = segments
        .iter()
        .position(|s| s.eq_ignore_ascii_case("edit") || s.eq_ignore_ascii_case("workitems"))?;
    segments.get(position + 1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_cut_at_128_with_an_ellipsis() {
        assert_eq!(work_item_title("  short ", "x"), "short");
        assert_eq!(work_item_title("", "Sentry issue 1"), "Sentry issue 1");
        let long = "é".repeat(200);
        let title = work_item_title(&long, "x");
        assert_eq!(title.chars().count(), 128);
        assert!(title.ends_with("..."));
        assert_eq!(work_item_title(&"a".repeat(128), "x").len(), 128);
    }

    #[test]
    fn references_from_ids_and_urls() {
        assert_eq!(work_item_reference("4321"), Some(4321));
        assert_eq!(work_item_reference(" #42 "), Some(42));
        assert_eq!(
            work_item_reference("https://dev.azure.com/contoso/Backend/_workitems/edit/4321"),
            Some(4321)
        );
        assert_eq!(
            work_item_reference("https://dev.azure.com/contoso/Backend/_workitems/edit/4321/"),
            Some(4321)
        );
        assert_eq!(
            work_item_reference("https://contoso.visualstudio.com/Backend/_workitems?id=77"),
            Some(77)
        );
        assert_eq!(
            work_item_reference("https://dev.azure.com/contoso/_apis/wit/workItems/9"),
            Some(9)
        );
        assert_eq!(
            work_item_reference("https://dev.azure.com/contoso/Backend/_git/repo"),
            None
        );
        assert_eq!(work_item_reference("bug"), None);
        assert_eq!(work_item_reference("0"), None);
    }

    #[test]
    fn the_patch_has_title_tag_relation_and_optional_fields() {
        let ops = create_patch(&NewWorkItem {
            title: "T".into(),
            description: "culprit: app.views",
            sentry_url: "https://acme.sentry.io/issues/1/",
            work_item_type: "Bug",
            markdown: true,
            area_path: Some("Backend\\Web"),
            iteration_path: None,
            tags: Some("prod, sentry,  api"),
            assignee: Some(" "),
            footer: Some("Created by alert rule \"Errors\"".into()),
        });
        let paths: Vec<&str> = ops.iter().map(|o| o["path"].as_str().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "/fields/System.Title",
                "/fields/System.Description",
                "/multilineFieldsFormat/System.Description",
                "/fields/Microsoft.VSTS.TCM.ReproSteps",
                "/fields/System.Tags",
                "/fields/System.AreaPath",
                "/relations/-"
            ]
        );
        assert_eq!(ops[4]["value"], "sentry; prod; api");
        assert!(ops[1]["value"].as_str().unwrap().contains("Created by alert rule"));
        assert!(
            ops[1]["value"]
                .as_str()
                .unwrap()
                .ends_with("[View the issue in Sentry](https://acme.sentry.io/issues/1/)")
        );
        assert_eq!(ops[6]["value"]["rel"], "Hyperlink");
        assert!(description_html("<b>x</b>", "https://s/1").contains("&lt;b&gt;x&lt;/b&gt;"));
    }
}

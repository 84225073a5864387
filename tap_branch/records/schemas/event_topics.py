"""Branch's event topics (the `eo_*` ontology topics) and Custom Exports report types.

One list for the Daily Exports v3 streams, the Custom Exports streams and the sandbox.
"""

from __future__ import annotations

#: Event topics Branch documents for Daily Exports v3 and Custom Exports (15: its v3
#: answer lists each, an empty list for a topic without data that day).
EO_TOPICS = [
    "eo_impression",
    "eo_click",
    "eo_web_to_app_auto_redirect",
    "eo_branch_cta_view",
    "eo_sms_sent",
    "eo_open",
    "eo_install",
    "eo_reinstall",
    "eo_web_session_start",
    "eo_pageview",
    "eo_commerce_event",
    "eo_custom_event",
    "eo_content_event",
    "eo_dismissal",
    "eo_user_lifecycle_event",
]

#: Every report type Branch documents for `/v2/logs`: the topics, cost, SKAdNetwork
#: postbacks, the fraud-blocked variant of each topic but dismissals, the
#: self-attributing networks' touches (in Branch's readiness topic list) and the
#: postback records (`webhook2`).
REPORT_TYPES = [
    *EO_TOPICS,
    "cost",
    "skadnetwork_valid_messages",
    "skadnetwork_invalid_messages",
    *(f"{topic}_blocked" for topic in EO_TOPICS if topic != "eo_dismissal"),
    "eo_san_touch",
    "webhook2",
]

#: Topics Branch documents for the readiness check (`POST /v2/data/ready`); other report
#: types are taken as complete up to `custom_exports_assumed_delay_hours` ago.
READINESS_TOPICS = [
    topic
    for topic in EO_TOPICS
    if topic not in ("eo_web_to_app_auto_redirect", "eo_sms_sent", "eo_dismissal")
]

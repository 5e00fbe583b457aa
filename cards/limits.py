"""Card limits per operator profile, each with its source.

Sources:
- [GSMA]  GSMA RCC.07 Universal Profile / RCC.71 chatbot message JSON schema
          (`application/vnd.gsma.botmessage.v1.0+json`).
- [CN]    China Telecom / China Unicom 5G message CSP interface spec V1.0.4, which publishes the
          GSMA chatbot message schema with the Chinese operators' limits.
- [RBM]   Google RCS Business Messaging API reference (rich cards, carousels, suggestions).
"""

from __future__ import annotations

from dataclasses import dataclass

# [GSMA]/[CN] generalPurposeCard.content.title: 1..200 characters
TITLE_MAX = 200
# [GSMA]/[CN] content.description: 1..2000 characters
DESCRIPTION_MAX = 2000
# [GSMA]/[CN] media.contentDescription: 1..200 characters
CONTENT_DESCRIPTION_MAX = 200
# [GSMA]/[CN] layout.titleFontStyle / descriptionFontStyle: 1..3 items from this set
FONT_STYLES = frozenset({"italics", "bold", "underline"})
FONT_STYLES_MAX = 3
# [GSMA]/[CN] content.suggestions: 1..4 per card
CARD_SUGGESTIONS_MAX = 4
# [GSMA]/[CN]/[RBM] suggested chip list: 1..11 chips
CHIP_LIST_MAX = 11
# [GSMA]/[CN] suggestion displayText 1..25 ([CN] writes "25个字符（Byte）")
DISPLAY_TEXT_MAX = 25
# [GSMA]/[CN] postback.data: at most 2048 characters
POSTBACK_DATA_MAX = 2048
# [GSMA] dialEnrichedCall.subject: at most 60 characters
ENRICHED_CALL_SUBJECT_MAX = 60
# Ours: a sanity bound on phoneNumber fields (tel URIs / E.164 with extensions); §11 sets none
PHONE_NUMBER_MAX = 64
# Ours: how many digits a dialable number has — 3 (110, 120) to 15 (E.164's maximum) before any extension
PHONE_DIGITS_MIN = 3
PHONE_DIGITS_MAX = 15
# [GSMA]/[CN] showLocation.location.label 1..100, query 1..200
LOCATION_LABEL_MAX = 100
LOCATION_QUERY_MAX = 200
# [GSMA]/[CN] createCalendarEvent.title 1..100, description 1..500
CALENDAR_TITLE_MAX = 100
CALENDAR_DESCRIPTION_MAX = 500
# [GSMA]/[CN] composeTextMessage.text: at most 100 characters
COMPOSE_TEXT_MAX = 100
# [GSMA]/[CN]/[RBM] a carousel holds at least 2 cards
CAROUSEL_MIN = 2
# [GSMA]/[CN] layout enumerations
ORIENTATIONS = frozenset({"VERTICAL", "HORIZONTAL"})
ALIGNMENTS = frozenset({"LEFT", "RIGHT"})
CARD_WIDTHS = frozenset({"SMALL_WIDTH", "MEDIUM_WIDTH"})
MEDIA_HEIGHTS = frozenset({"SHORT_HEIGHT", "MEDIUM_HEIGHT", "TALL_HEIGHT"})
# [GSMA]/[RBM] small-width carousel cards cannot take TALL media
SMALL_WIDTH_HEIGHTS = frozenset({"SHORT_HEIGHT", "MEDIUM_HEIGHT"})
# [GSMA] openUrl.application / viewMode (webview only). [GSMA]/[CN] schema: lower case;
# [RBM] spells its enum in upper case (WebviewViewMode FULL/HALF/TALL).
URL_APPLICATIONS = frozenset({"browser", "webview"})
VIEW_MODES = frozenset({"full", "half", "tall"})
RBM_VIEW_MODES = frozenset({"FULL", "HALF", "TALL"})
# [GSMA] composeRecordingMessage.type
RECORDING_TYPES = frozenset({"AUDIO", "VIDEO"})
# [CN] media uploads: image 2 MB (jpg/png), audio 5 MB, video 10 MB, thumbnail image 200 KB
CN_MEDIA_MAX_BYTES = {"image": 2 * 1024 * 1024, "audio": 5 * 1024 * 1024, "video": 10 * 1024 * 1024}
CN_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/jpg"})
CN_THUMBNAIL_MAX_BYTES = 200 * 1024
# Ours: a file message's name (file systems and the operators' consoles stop at 255)
FILE_NAME_MAX = 255
# [CN] a location message's geo text names its datum: gcj02 in the interface's examples
LOCATION_DATUMS = frozenset({"gcj02", "wgs84"})
# [CN] a plain text message: at most 2000 characters
CN_TEXT_MAX = 2000
# [RBM] a whole RBM message: at most 250 KB
RBM_MESSAGE_MAX_BYTES = 250 * 1024


@dataclass(frozen=True)
class Profile:
    """What differs between target operators."""

    name: str
    carousel_max: int
    menu_levels: int
    menu_top_max: int
    menu_sub_max: int
    # "characters" or "bytes" (UTF-8) for suggestion displayText
    display_text_unit: str = "characters"
    cn_media: bool = False
    message_max_bytes: int | None = None
    view_modes: frozenset[str] = VIEW_MODES


PROFILES: dict[str, Profile] = {
    # [CN] carousel ≤ 12; persistent menu 2 levels, 3 top entries, 5 per submenu; media caps.
    # displayText counted in characters: the consoles accept 25 Chinese characters.
    "cn_csp": Profile("cn_csp", carousel_max=12, menu_levels=2, menu_top_max=3, menu_sub_max=5, cn_media=True),
    # [GSMA] carousel ≤ 12; persistent menu 3 levels, 1..5 entries each.
    "gsma": Profile("gsma", carousel_max=12, menu_levels=3, menu_top_max=5, menu_sub_max=5),
    # [RBM] carousel ≤ 10; whole message ≤ 250 KB; menu as GSMA.
    "rbm": Profile(
        "rbm",
        carousel_max=10,
        menu_levels=3,
        menu_top_max=5,
        menu_sub_max=5,
        message_max_bytes=RBM_MESSAGE_MAX_BYTES,
        view_modes=RBM_VIEW_MODES,
    ),
}
DEFAULT_PROFILE = "cn_csp"

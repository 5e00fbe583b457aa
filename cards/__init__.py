"""Cards: the GSMA UP chatbot card model, validation, per-recipient composition, renderers
(GSMA JSON, HTML, PNG, SMS text), domain blocks and the template library."""

from cards.blocks import (
    Appointment,
    Bill,
    BuiltCard,
    LineItem,
    Option,
    Place,
    Ticket,
    appointment_card,
    bill_card,
    chip_list,
    location_card,
    otp_message,
    persistent_menu,
    ticket_card,
)
from cards.compose import CardInvalid, CompiledCard, MissingVariable, compile_template
from cards.formats import format_date, format_datetime, format_money, format_time
from cards.html import Footer, render_html
from cards.library import Template, load_library
from cards.limits import DEFAULT_PROFILE, PROFILES, Profile
from cards.links import calendar_ics, geo_uri, landing_href, web_map_url
from cards.model import (
    BOTMESSAGE_CONTENT_TYPE,
    BOTSUGGESTION_CONTENT_TYPE,
    BOTSUGGESTION_RESPONSE_CONTENT_TYPE,
    Document,
    Suggestion,
    parse_document,
)
from cards.png import render_png, render_png_cached
from cards.render import (
    ReplyOption,
    normalized,
    render_gsma,
    render_gsma_menu,
    render_gsma_suggestions,
    render_text,
    reply_options,
    suggestion_response,
)
from cards.validate import CardReport, validate_card
from cards.view import DocumentView, MediaView, SuggestionView, document_view, suggestion_at

__all__ = [
    "calendar_ics",
    "geo_uri",
    "landing_href",
    "web_map_url",
    "Appointment",
    "Bill",
    "BuiltCard",
    "LineItem",
    "Option",
    "Place",
    "Ticket",
    "appointment_card",
    "bill_card",
    "chip_list",
    "location_card",
    "otp_message",
    "persistent_menu",
    "ticket_card",
    "BOTMESSAGE_CONTENT_TYPE",
    "BOTSUGGESTION_CONTENT_TYPE",
    "BOTSUGGESTION_RESPONSE_CONTENT_TYPE",
    "CardInvalid",
    "CardReport",
    "CompiledCard",
    "DEFAULT_PROFILE",
    "Document",
    "DocumentView",
    "Footer",
    "MediaView",
    "MissingVariable",
    "PROFILES",
    "Profile",
    "ReplyOption",
    "Suggestion",
    "SuggestionView",
    "Template",
    "compile_template",
    "document_view",
    "format_date",
    "format_datetime",
    "format_money",
    "format_time",
    "load_library",
    "normalized",
    "parse_document",
    "render_gsma",
    "render_gsma_menu",
    "render_gsma_suggestions",
    "render_html",
    "render_png",
    "render_png_cached",
    "render_text",
    "reply_options",
    "suggestion_at",
    "suggestion_response",
    "validate_card",
]

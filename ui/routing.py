"""How a page request reaches the entry script, and what a page error becomes."""

import os
from pathlib import Path

import streamlit as st

ENTRY_RAN = "_entry_script_ran"
DEEP_LINK = "_requested_page"
DEEP_LINK_QUERY = "_requested_query"
RAISE_PAGE_ERRORS_ENV = "PNEUMONIA_EXPLORER_RAISE_PAGE_ERRORS"  # "1": the entry script re-raises a page's error (tests)
PAGE_ERROR = ("Something went wrong on this page, and it has been logged. The other pages still work; try again, or pick "
              "another page.")


def raise_page_errors() -> bool:
    return os.environ.get(RAISE_PAGE_ERRORS_ENV) == "1"


def enter(page_file: str) -> None:
    """What every page does first: come through the entry script if it was bypassed, then take its state from a
    shared link (on a session's first page) and write its state back to the URL (see ui.state)."""
    from ui import state

    _through_entry_script(page_file)
    state.sync_url(Path(page_file).name)


def _through_entry_script(page_file: str) -> None:
    """Because the project has a pages/ folder, a fresh server starts in Streamlit's legacy mode, where a first
    request for a page URL runs that page alone: no navigation, no page config. Go through the entry script once
    (its st.navigation ends legacy mode for the process), which then forwards to the page that was asked for."""
    if ENTRY_RAN not in st.session_state:
        st.session_state[DEEP_LINK] = Path(page_file).name
        st.session_state[DEEP_LINK_QUERY] = st.query_params.to_dict()  # st.switch_page drops them
        st.switch_page("streamlit_app.py")


def requested_page() -> str:
    """The page file a first request asked for ("" if none): the entry script forwards there."""
    return st.session_state.pop(DEEP_LINK, "")


def linked_query() -> dict:
    """The query parameters of the link that opened the session (kept across the forward to the entry script)."""
    return st.session_state.pop(DEEP_LINK_QUERY, None) or st.query_params.to_dict()

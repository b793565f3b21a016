"""The Streamlit workbench: a frame around the pages, with the shared dataset-group picker in the sidebar and one
guard that turns an unexpected error on any page into a plain sentence, its details and a log line."""

from pathlib import Path

import streamlit as st

from pages import common

# Absolute paths: the app tests run this file from another directory (tests/app/app_frame.py).
HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="recsys workbench", page_icon=":material/recommend:", layout="wide")

PAGES = [
    st.Page(HERE / "pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page(HERE / "pages/data.py", title="Data", icon=":material/database:"),
    st.Page(HERE / "pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page(HERE / "pages/compare.py", title="Compare", icon=":material/leaderboard:"),
    st.Page(HERE / "pages/tune.py", title="Tune", icon=":material/tune:"),
    st.Page(HERE / "pages/preview.py", title="Preview", icon=":material/visibility:"),
    st.Page(HERE / "pages/filters.py", title="Filters", icon=":material/filter_alt:"),
    st.Page(HERE / "pages/segments_batch.py", title="Segments & Batch", icon=":material/groups:"),
    st.Page(HERE / "pages/campaigns_events.py", title="Campaigns & Events", icon=":material/rocket_launch:"),
]

navigation = st.navigation(PAGES)
with common.guard("sidebar"):
    common.group_picker()
    st.sidebar.caption(f"Workspace: `{common.get_store().home}`")
with common.guard(navigation.title):
    navigation.run()

"""The Streamlit workbench: a frame around the pages, with the shared dataset-group picker in the sidebar."""

import streamlit as st

from pages import common

st.set_page_config(page_title="recsys workbench", page_icon=":material/recommend:", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/data.py", title="Data", icon=":material/database:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/leaderboard:"),
    st.Page("pages/tune.py", title="Tune", icon=":material/tune:"),
    st.Page("pages/preview.py", title="Preview", icon=":material/visibility:"),
    st.Page("pages/filters.py", title="Filters", icon=":material/filter_alt:"),
    st.Page("pages/segments_batch.py", title="Segments & Batch", icon=":material/groups:"),
    st.Page("pages/campaigns_events.py", title="Campaigns & Events", icon=":material/rocket_launch:"),
]

navigation = st.navigation(PAGES)
common.group_picker()
st.sidebar.caption(f"Workspace: `{common.get_store().home}`")
navigation.run()

"""The Streamlit workbench: a frame around the pages, with the shared dataset-group picker."""

import streamlit as st

from recsys.store import Store

st.set_page_config(page_title="recsys workbench", layout="wide")
store = Store()
groups = [g["name"] for g in store.list_dataset_groups()]
st.title("recsys workbench")
if groups:
    st.write(f"Workspace `{store.home}` with dataset groups: {', '.join(groups)}")
else:
    st.info("The workspace is empty: run `python -m recsys demo` to load the demo data.")

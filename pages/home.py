"""Home: the workspace, the status of everything in the chosen dataset group, and the next step."""

import pandas as pd
import streamlit as st

from pages import common
from recsys import workspace

st.title("Recommendation workbench")
st.caption("A self-hosted Amazon Personalize: data, recipes, honest offline metrics, filters, campaigns and an API.")

store = common.get_store()
common.show_flash()
group = common.current_group()

if group is None:
    common.empty_state(
        "This workspace has no dataset group yet.",
        "Load the demo e-commerce data (2,000 users, 1,000 items, 100,000 events), or go to **Data** to import your own file.",
    )
    if st.button("Load the demo data", type="primary", key="home_load_demo"):
        with st.spinner("Generating and importing the demo data..."):
            workspace.load_demo_workspace(store)
        common.flash("Loaded the demo data and trained three models; see **Compare** and **Preview**.")
        st.rerun()
    st.stop()

status = common.cached_group_status(group)
st.subheader(f"Dataset group `{group}`")
cols = st.columns(5)
cols[0].metric("Interactions", f"{status['interactions']:,}")
cols[1].metric("Items", f"{status['items']:,}", help=f"Distinct items with interactions; the Items dataset has "
               f"{status['items_rows']:,} rows.")
cols[2].metric("Users", f"{status['users']:,}", help=f"Distinct users with interactions; the Users dataset has "
               f"{status['users_rows']:,} rows.")
cols[3].metric("Trained versions", status["active_versions"])
cols[4].metric("Campaigns", status["campaigns"])

st.info(f"**Next step:** {status['next_step']}")

resources = pd.DataFrame(status["resources"])
if resources.empty:
    st.caption("No solutions, campaigns, filters or jobs yet.")
else:
    st.dataframe(resources, hide_index=True, width="stretch")
    common.download_button(resources, "Download as CSV", f"{group}-resources.csv", key="home_dl")

st.subheader("All dataset groups")
groups = pd.DataFrame(store.list_dataset_groups())
if not groups.empty:
    groups["created_at"] = pd.to_datetime(groups["created_at"], unit="s").dt.strftime("%Y-%m-%d %H:%M")
    st.dataframe(groups[["name", "domain", "arn", "created_at"]], hide_index=True, width="stretch")

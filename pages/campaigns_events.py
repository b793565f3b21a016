"""Campaigns & Events: deploy a version, the API endpoint and boto3 code, and a live event simulator."""

import pandas as pd
import streamlit as st

from pages import common, pickers
from recsys import campaigns, datasets, display, event_writer, serving, solutions, workspace
from recsys.exceptions import RecsysError

st.title("Campaigns & Events")
store = common.get_store()
common.show_flash()
group = common.require_group()
if group is None:
    st.stop()

versions = [v for v in solutions.list_solution_versions(store, group) if v.status == "ACTIVE"
            and v.recipe_type != "USER_SEGMENTATION"]
if not versions:
    common.empty_state("No trained version to deploy.", "Train a recipe on the **Train** page first.")
    st.stop()

label = lambda v: f"{v.solution}/{v.version_id} ({v.recipe})"  # noqa: E731

with st.form("campaigns_create"):
    st.subheader("Deploy a version")
    version = st.selectbox("Solution version", versions, format_func=label, key="campaigns_version")
    follow_latest = st.checkbox("Follow the solution's newest version ($LATEST)", key="campaigns_latest")
    name = st.text_input("Campaign name", value=version.solution if version else "", key="campaigns_name")
    c1, c2 = st.columns(2)
    weight = c1.slider("explorationWeight", 0.0, 1.0, 0.3, 0.05, key="campaigns_weight",
                       help="How much new, little-seen items are explored (user personalization only).")
    cutoff = c2.number_input("explorationItemAgeCutOff (days)", 1.0, 3650.0, 30.0, key="campaigns_cutoff",
                             help="Only items created within this many days of the newest interaction are explored.")
    if st.form_submit_button("Deploy", type="primary"):
        arn = version.solution_arn + "/$LATEST" if follow_latest else version.arn
        config = {"itemExplorationConfig": {"explorationWeight": str(weight), "explorationItemAgeCutOff": str(cutoff)}}
        try:
            existing = {c.name for c in campaigns.list_campaigns(store, group)}
            if name in existing:
                campaigns.update_campaign(store, group, name, solution_version_arn=arn, campaign_config=config)
                st.success(f"Campaign {name} now serves {arn} (requests in flight finished on the old version).")
            else:
                created = campaigns.create_campaign(store, group, name, arn, campaign_config=config)
                st.success(f"Deployed {created.arn}")
        except RecsysError as exc:
            st.error(str(exc))

deployed = campaigns.list_campaigns(store, group)
if not deployed:
    common.empty_state("No campaign yet.", "Deploy a version above; the API then serves it.")
    st.stop()

st.subheader("Campaigns")
frame = pd.DataFrame([{"name": c.name, "status": c.status, "arn": c.arn,
                       "solution version": c.solution_version_arn} for c in deployed])
st.dataframe(frame, hide_index=True, width="stretch")
common.download_button(frame, "Download as CSV", f"{group}-campaigns.csv", key="campaigns_dl")
by_name = {c.name: c for c in deployed}
campaign = by_name[st.selectbox("Campaign", list(by_name), key="campaigns_pick")]
if st.button("Delete this campaign", key="campaigns_delete"):
    campaigns.delete_campaign(store, group, campaign.name)
    common.flash(f"Deleted campaign {campaign.name!r}.")
    st.rerun()

st.subheader("Call it from an application")
st.markdown("Start the API with `python -m recsys serve --port 8080` and create a key scoped to this group with "
            f"`python -m recsys keys create --group {group}`. Existing boto3 code only changes `endpoint_url`:")
tracker = workspace.ensure_event_tracker(store, group)
st.code(f'''import boto3

session = boto3.Session(aws_access_key_id="<key id>", aws_secret_access_key="<secret>", region_name="us-east-1")
runtime = session.client("personalize-runtime", endpoint_url="http://127.0.0.1:8080")
answer = runtime.get_recommendations(campaignArn="{campaign.arn}", userId="u0001", numResults=10)
print([item["itemId"] for item in answer["itemList"]])

events = session.client("personalize-events", endpoint_url="http://127.0.0.1:8080")
events.put_events(trackingId="{tracker['trackingId']}", userId="u0001", sessionId="s-1",
                  eventList=[{{"eventType": "view", "itemId": "i0001", "sentAt": 1767225600}}])''', language="python")

st.subheader("Event simulator")
st.caption("Pick a user, click items, and watch the recommendations change at once — no retraining.")
c1, c2 = st.columns(2)
with c1:
    picked = pickers.user_picker(group, "User", "campaigns_sim_user")
custom = c2.text_input("...or an anonymous session id", key="campaigns_sim_session")
user_id = custom.strip() or picked
if not user_id:
    st.stop()
event_type = st.selectbox("Event type", common.cached_event_types(group) or ["view"], key="campaigns_sim_type")

try:
    answer = serving.get_recommendations(store, campaign.arn, user_id=user_id, num_results=10)
except RecsysError as exc:
    st.error(str(exc))
    st.stop()
previous = st.session_state.get("campaigns_sim_previous", {}).get(user_id)
current = [it["itemId"] for it in answer["itemList"]]
history = datasets.user_history(store, group, user_id, limit=50)["ITEM_ID"].astype(str).tolist()
names = pickers.item_names(group, current + history)
cols = st.columns(5)
for i, item in enumerate(answer["itemList"]):
    with cols[i % 5]:
        new = previous is not None and item["itemId"] not in previous
        st.markdown(f"**{i + 1}. {item['itemId']}**" + (" :green[new]" if new else ""))
        if names.get(item["itemId"]):
            st.markdown(names[item["itemId"]])
        st.caption(display.name_reasons(item.get("reason"), names, history))
        if st.button(f"{event_type} it", key=f"campaigns_sim_click_{item['itemId']}"):
            try:
                workspace.record_event(store, group, user_id, item["itemId"], event_type)
                st.session_state.setdefault("campaigns_sim_previous", {})[user_id] = current
                st.rerun()
            except RecsysError as exc:
                st.error(str(exc))

# -- the event spool: what PutEvents kept while a long import held the workspace, and its dead letters --------
st.subheader("Event spool")
st.caption("While a long import holds the workspace, PutEvents keeps events in a spool; the next write moves them "
           "in. A batch that no longer fits its dataset (its schema changed) waits here as a dead letter.")
spooled, letters = event_writer.spooled_count(store, group), event_writer.dead_letters(store, group)
spool_waiting, spool_dead = st.columns(2)
spool_waiting.metric("Spooled batches", f"{spooled:,}")
spool_dead.metric("Dead letters", f"{len(letters):,}")
if letters:
    st.dataframe(pd.DataFrame(letters)[["id", "events", "session_id", "user_id", "reason"]], hide_index=True,
                 width="stretch")
    retry_col, drop_col = st.columns(2)
    if retry_col.button("Retry dead letters", key="campaigns_spool_retry", type="primary"):
        result = event_writer.retry_dead_letters(store, [letter["id"] for letter in letters])
        common.flash(f"Retried {result['retried']:,} dead letter(s): {result['moved']:,} written, "
                     f"{result['failed']:,} failed again.")
        st.rerun()
    if drop_col.button("Drop dead letters", key="campaigns_spool_drop",
                       help="Their events are not recorded; retry first if the cause was fixed."):
        dropped = event_writer.drop_dead_letters(store, [letter["id"] for letter in letters])
        common.flash(f"Dropped {dropped:,} dead letter(s).")
        st.rerun()

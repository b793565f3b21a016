"""app.py as the app tests run it: from a directory without a `pages/` folder, so Streamlit takes the app's
st.navigation (not its legacy pages-folder mode) and `AppTest.switch_page` runs app.py's frame around each page."""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[2] / "app.py"), run_name="__main__")

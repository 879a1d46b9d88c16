"""The Train tab's download step for the real data sets (MNIST, CIFAR-10, ...): what is missing, where it goes, a
button, and a progress bar fed by ``data.fetch``'s progress callback. Nothing is downloaded without the click:
CIFAR-10 alone is 170 MB.
"""

from __future__ import annotations

import streamlit as st


def progress_text(title: str, name: str, done: int, total: int) -> str:
    return f"{title}: {name}, {done / 1e6:.1f} of {total / 1e6:.1f} MB"


def render_download(name: str, key: str) -> bool:
    """True when data set ``name`` is cached (or was downloaded just now); else the button, and False."""
    from data.base import DatasetError
    from data.fetch import datasets_dir, ensure, is_cached, source_of  # torch comes with them: imported late

    if is_cached(name):
        return True
    source = source_of(name)
    size = sum(f.size for f in source.files)
    folder = datasets_dir() / name
    st.info(f"{source.title} isn't downloaded yet ({size / 1e6:.0f} MB, once): it goes to {folder}. "
            f"Until then the small built-in sets train offline. About the data: {source.page}")
    if not st.button(f"Download {source.title}", key=f"{key}_download_{name}", type="primary"):
        return False
    bar = st.progress(0.0, text=f"{source.title}: starting…")
    finished = {f.name: 0 for f in source.files}
    shown = [-1]

    def report(file: str, done: int, total: int) -> None:
        finished[file] = done
        percent = int(100 * sum(finished.values()) / max(size, 1))
        if percent != shown[0]:  # one update per percent: a message per 64 kB chunk would flood the browser
            shown[0] = percent
            bar.progress(percent / 100, text=progress_text(source.title, file, done, total))

    try:
        ensure(name, progress=report)
    except DatasetError as err:
        st.error(err.message)
        return False
    bar.progress(1.0, text=f"{source.title}: downloaded and checked ({size / 1e6:.1f} MB)")
    return True

"""LayerLab's Streamlit interface, one room per screen (design, train, code, gallery, project) over common/;
imports between rooms point down (tests/test_import_graph.py)."""

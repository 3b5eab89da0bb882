"""Universe curation: suggested role tags and exposure bands learnt from business descriptions.

``suggest`` (the entry points), ``model`` (the scikit-learn classifier and its stored parameters), ``corpus`` (the
bundled labelled descriptions) and ``keywords`` (the keyword baseline the model is measured against). Nothing here
changes a tag unless a caller accepts a suggestion; scikit-learn is imported only when a model is trained or used.
"""

"""Domain operations the HTTP resources (and the hosted pages, the control API) share.

Modules import downward only, in this order (a module may import any before it):
customers → payment_methods → setup_intents → invoices → subscriptions → billing → checkout.
They never import `resources`, `api`, `hosted` or `control`; those import them.
"""

"""Domain operations the HTTP resources (and the hosted pages, the control API) share.

Modules import downward only, in this order (a module may import any before it):
customers → payment_methods → setup_intents → discounts → invoices → subscriptions → prorations →
cancellation → pending_updates → schedules → billing → checkout;
`products` stands alone. They never import `resources`, `api`, `hosted`, `control` or `server`;
those import them.
"""

"""Campaigns: POST/GET /partner/campaigns and GET /partner/campaigns/{id}.

(``POST /partner/campaigns/issue`` creates an issuance job and lives in ``issuance/``.)
"""

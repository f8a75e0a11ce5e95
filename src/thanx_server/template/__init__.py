"""Reward templates: GET /partner/reward_templates(/{id}), and the operator's create/list."""

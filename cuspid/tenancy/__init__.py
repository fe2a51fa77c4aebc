"""Organisations (clinics and labs), memberships with roles, clinic-lab connections, the Actor."""

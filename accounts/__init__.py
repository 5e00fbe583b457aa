"""Tenants and how they prove who they are: accounts, API keys, the tenant's data keys."""

from accounts.service import Accounts, SignatureInvalid, Tenant, TenantNameInvalid, validate_signature

__all__ = ["Accounts", "SignatureInvalid", "Tenant", "TenantNameInvalid", "validate_signature"]

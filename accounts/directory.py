"""Tenant facts the sending side asks for on every message: the SMS signature and extension
code (cached), and the tenant an SMS reply's extension code names."""

from __future__ import annotations

from accounts.service import Accounts, Tenant


class TenantDirectory:
    """Tenant facts for sending, read once per process (they change only through `tenant`
    commands, which a restart picks up)."""

    def __init__(self, accounts: Accounts):
        self.accounts = accounts
        self._tenants: dict[str, Tenant] = {}

    async def _tenant(self, tenant_id: str) -> Tenant:
        found = self._tenants.get(tenant_id)
        if found is None:
            found = await self.accounts.get_tenant(tenant_id)
            if found is None:
                raise LookupError(f"no tenant {tenant_id}")
            self._tenants[tenant_id] = found
        return found

    def forget(self, tenant_id: str) -> None:
        """Read the tenant again on next use (its signature changed in this process)."""
        self._tenants.pop(tenant_id, None)

    async def signature_of(self, tenant_id: str) -> str:
        """The tenant's registered SMS signature, e.g. 【鸿雁】."""
        return (await self._tenant(tenant_id)).signature

    async def extension_of(self, tenant_id: str) -> str | None:
        """The tenant's SMS extension code (扩展码), appended to the sender number."""
        return (await self._tenant(tenant_id)).sms_ext

    async def id_for_extension(self, ext: str) -> str | None:
        """The tenant whose extension code this is."""
        found = await self.accounts.tenant_by_sms_ext(ext)
        return found.id if found is not None else None

"""Who may read the gateway's internal endpoints (its `/metrics`): client addresses."""

import ipaddress


class AddressList:
    """Client addresses as a comma list of addresses and networks (CIDR), or `*` for any."""

    def __init__(self, spec: str) -> None:
        items = [item.strip() for item in spec.split(",") if item.strip()]
        self.anyone = "*" in items
        self.networks = [ipaddress.ip_network(i, strict=False) for i in items if i != "*"]

    def allows(self, address: str | None) -> bool:
        if self.anyone:
            return True
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

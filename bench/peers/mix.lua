-- SPDX-License-Identifier: MIT
-- wrk script of `make peers`: four GET /lc to one GET /batch, the open-loop
-- generator's 80 % mix, each on the connection's keep-alive.
local n = 0

request = function()
	n = n + 1
	if n % 5 == 0 then
		return wrk.format("GET", "/batch")
	end
	return wrk.format("GET", "/lc")
end

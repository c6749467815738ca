"""The meter model behind tools/ticsim.py: a simulated Linky and its household, in simulated time.

Host-only (CPython). The state evolves only through `Meter.advance(seconds)`, and every random
draw comes from the `random.Random` given to it, so a seed gives the same run every time; nothing
here reads the wall clock. Frames are built from this state by tools/ticsim_frames.py.

Facts used (see /work/shared/docs/tic-protocol.md): French legal time with its season letter,
Tempo days run 06:00 to 06:00 with tomorrow's colour known in the evening, EJP mobile peaks run
07:00 to 01:00 with a 30-minute notice, ISOUSC = PREF / 200 V (/ 3 in three-phase), energy
indexes in whole Wh where EAST is exactly the sum of the supplier indexes.
"""

import calendar
import datetime
import math
import random

CONTRACTS = ("base", "hchp", "tempo", "ejp", "producer")
BLUE, WHITE, RED = 1, 2, 3  # STGE colour codes (bits 24-27)
COLOUR_CODES = {"B": BLUE, "W": WHITE, "R": RED, "BLEU": BLUE, "BLAN": WHITE, "ROUG": RED}
COLOUR_WORD = {BLUE: "BLEU", WHITE: "BLANC", RED: "ROUGE"}
EJP_CODES = {"N": False, "P": True, "HN": False, "PM": True}
HC_START, HC_END = 22, 6  # off-peak hours (hchp and Tempo), local time
EJP_START, EJP_END = 7, 1  # mobile peak 07:00 to 01:00 the next day
EPOCH = datetime.datetime(1970, 1, 1)

# Share of the initial consumption per supplier index (EASF01...), per contract.
INDEX_SPLIT = {
    "base": (1.0,),
    "producer": (1.0,),
    "hchp": (0.42, 0.58),  # 1 = HC, 2 = HP
    "tempo": (0.30, 0.45, 0.08, 0.10, 0.03, 0.04),  # HCJB HPJB HCJW HPJW HCJR HPJR
    "ejp": (0.94, 0.06),  # 1 = HN, 2 = PM
}


# ---- French legal time -------------------------------------------------------------------
def _last_sunday_utc(year, month):
    """Summer time starts/ends on the last Sunday of March/October at 01:00 UTC."""
    d = datetime.date(year, month, 31)  # both months have 31 days
    d -= datetime.timedelta(days=(d.weekday() + 1) % 7)
    return calendar.timegm((d.year, d.month, d.day, 1, 0, 0))


def is_summer(utc):
    year = (EPOCH + datetime.timedelta(seconds=utc)).year
    return _last_sunday_utc(year, 3) <= utc < _last_sunday_utc(year, 10)


def local_time(utc):
    """Local legal time (a naive datetime) of a UTC timestamp."""
    return EPOCH + datetime.timedelta(seconds=int(utc) + (7200 if is_summer(utc) else 3600))


def utc_of_local(dt):
    """UTC timestamp of a local legal time (the summer guess is checked against the result)."""
    naive = calendar.timegm(dt.timetuple())
    utc = naive - 7200
    return utc if is_summer(utc) else naive - 3600


def horodate(utc, degraded=False, season=True):
    """SAAMMJJhhmmss; season char H/E (h/e when the clock is degraded), or SP if not applicable."""
    t = local_time(utc)
    s = ("E" if is_summer(utc) else "H") if season else " "
    if degraded:
        s = s.lower()
    return "%s%02d%02d%02d%02d%02d%02d" % (
        s, t.year % 100, t.month, t.day, t.hour, t.minute, t.second
    )  # fmt: skip


def _bump(h, centre, width):
    """A bell of height 1 around `centre` hours, wrapping around midnight."""
    d = min(abs(h - centre), 24 - abs(h - centre))
    return math.exp(-0.5 * (d / width) ** 2)


# Heating need by month (1 = January).
WINTERNESS = (0, 1.0, 0.9, 0.6, 0.3, 0.05, 0, 0, 0, 0.05, 0.3, 0.7, 1.0)


class PeriodAverage:
    """Mean of a piecewise-constant value over fixed clock periods (CCASN, UMOY...).

    Keeps the last two completed periods as (mean, end UTC); `add` splits a step at period
    boundaries, so a big simulated step still closes every period it crosses. Works in UTC:
    legal time differs by whole hours, so the periods are aligned on the local clock too.
    """

    def __init__(self, period, start, value, prev=None):
        self.period = period
        end = (start // period) * period
        self.last = (value, end)
        self.prev = (value if prev is None else prev, end - period)
        self.sum = value * (start - end)
        self.begin = end

    def add(self, value, t0, t1):
        while t1 > t0:
            end = self.begin + self.period
            t = min(t1, end)
            self.sum += value * (t - t0)
            t0 = t
            if t0 >= end:
                self.prev = self.last
                self.last = (self.sum / self.period, end)
                self.sum = 0.0
                self.begin = end


class Meter:
    """A Linky and the house behind it. Public attributes are read by the frame builders."""

    def __init__(self, rng, phases, contract, start_utc, *, seed=0, days=(), overloads=()):
        if contract not in CONTRACTS:
            raise ValueError("unknown contract %r" % contract)
        self.rng = rng
        self.phases = phases
        self.contract = contract
        self.producer = contract == "producer"
        self.seed = seed
        self.utc = float(start_utc)
        self.overloads = tuple((start_utc + a, start_utc + a + d) for a, d in overloads)
        self.overload_until = -1.0  # end of the current overload + 1 min (tri short frames)
        self.degraded = False  # clock not synchronised: season letter h/e, STGE bit 16
        self._identity()
        self.day_override = {}
        first = self.tariff_day(start_utc)
        for i, code in enumerate(days):
            self.day_override[first + datetime.timedelta(days=i)] = code
        self._house()
        self._indexes()
        self.volts = [rng.uniform(228, 238) for _ in range(phases)]
        self._sample()
        self._init_averages()

    # ---- fixed facts about this meter ---------------------------------------------------
    def _identity(self):
        r = self.rng
        kind = r.choice((61, 64) if self.phases == 1 else (63, 76))
        self.adco = "%02d%02d%02d%06d" % (r.choice((2, 3, 4, 5)), r.randint(15, 22), kind,
                                          r.randint(0, 999999))  # fmt: skip
        self.prm = "%014d" % r.randint(10**12, 3 * 10**13 - 1)
        if self.phases == 1:
            self.pref = r.choice((6, 9, 12))
        else:
            self.pref = r.choice((12, 15, 18, 24, 30, 36))
        self.isousc = self.pref * 1000 // 200 // self.phases
        self.hc_relay = self.contract in ("hchp", "tempo")

    def _house(self):
        r = self.rng
        self.standby = r.uniform(150, 400)  # W, always on
        self.heating = r.choice((0.0, 1500.0, 3000.0)) * self.pref / 9  # electric heating, W
        self.water = r.choice((1800.0, 2400.0, 3000.0))  # night water heater, W
        self.solar = r.choice((3000.0, 4500.0, 6000.0)) if self.producer else 0.0  # Wp
        w = [r.uniform(0.7, 1.3) for _ in range(self.phases)]
        self.split = [x / sum(w) for x in w]  # share of the diffuse load per phase
        self.events = []  # running appliances: [end_utc, watts, phase]
        self.wobble = 0.0  # slow multiplicative noise (AR(1))
        self.clouds = 1.0

    def _indexes(self):
        r = self.rng
        total = r.randint(5_000_000, 40_000_000)
        split = INDEX_SPLIT[self.contract]
        self.easf = [int(total * x) for x in split] + [0] * (10 - len(split))
        self.easf[0] += total - sum(self.easf)
        four = (0.35, 0.25, 0.25, 0.15) if self.hc_relay else (1.0, 0, 0, 0)
        self.easd = [int(total * x) for x in four]
        self.easd[0] += total - sum(self.easd)
        self.east = total
        self.eait = r.randint(1_000_000, 8_000_000) if self.producer else 0
        self.erq = [total // 5, self.eait // 8, self.eait // 50, total // 40]
        self.carry = [0.0, 0.0]  # fractional Wh drawn / injected
        self.qcarry = [0.0] * 4

    def _init_averages(self):
        t = self.utc
        self.cc_draw = PeriodAverage(
            1800, t, self.p_draw, self.p_draw * self.rng.uniform(0.7, 1.3)
        )
        self.cc_inj = PeriodAverage(1800, t, self.p_inj)
        self.umoy = [PeriodAverage(600, t, v) for v in self.volts]
        # A plausible max already reached today and yesterday's (synthesised, then tracked).
        r = self.rng
        now = self.local()
        day_start = utc_of_local(datetime.datetime(now.year, now.month, now.day))
        early = min(self.utc, day_start + r.uniform(0, self.utc - day_start))
        today = [s * r.uniform(1.0, 2.0) + r.uniform(100, 600) for s in self.s_phase_draw]
        self.smax = [sum(today), early, [[v, early] for v in today]]
        y = [v * r.uniform(0.8, 1.5) + 200 for v in today]
        yt = day_start - 86400 + r.uniform(6, 22) * 3600
        self.smax_prev = [sum(y), yt, [[v, yt] for v in y]]
        noon = day_start + 13.5 * 3600  # a sunny midday already past today?
        made = self.solar * r.uniform(0.3, 0.8) if self.utc > noon + 3600 else 0.0
        self.smaxin = [made, noon] if made > self.s_inj else [self.s_inj, self.utc]
        self.smaxin_prev = [self.solar * r.uniform(0.4, 0.9), day_start - r.uniform(9, 12) * 3600]
        self.day = now.date()

    # ---- calendar and tariff ------------------------------------------------------------
    def local(self):
        return local_time(self.utc)

    def tariff_day(self, utc):
        """The tariff day a time belongs to: Tempo days run from 06:00; EJP uses the date."""
        t = local_time(utc)
        if self.contract == "tempo":
            t -= datetime.timedelta(hours=HC_END)
        return t.date()

    def _day_rng(self, d):
        return random.Random("%s-%s-%s" % (self.contract, self.seed, d.isoformat())).random()

    def tempo_colour(self, d):
        """Colour of a Tempo day: given by --days, else a seeded calendar (red/white in winter,
        never red at weekends, Sundays always blue)."""
        if d in self.day_override:
            return COLOUR_CODES[self.day_override[d]]
        x = self._day_rng(d)
        winter = d.month in (11, 12, 1, 2, 3)
        if d.weekday() == 6:
            return BLUE
        if winter and d.weekday() < 5 and x < 0.15:
            return RED
        if (winter or d.month in (4, 10)) and x > 0.75:
            return WHITE
        return BLUE

    def ejp_day(self, d):
        if d in self.day_override:
            return EJP_CODES[self.day_override[d]]
        return d.month in (11, 12, 1, 2, 3) and d.weekday() < 5 and self._day_rng(d) < 0.2

    def colours(self):
        """(today, tomorrow) Tempo colours; tomorrow is 0 until announced at 20:00."""
        d = self.tariff_day(self.utc)
        h = self.local().hour
        known = h >= 20 or h < HC_END
        return self.tempo_colour(d), (
            self.tempo_colour(d + datetime.timedelta(days=1)) if known else 0
        )

    def is_hc(self):
        h = self.local().hour
        return h >= HC_START or h < HC_END

    def ejp_state(self):
        """(notice, peak): notice during the 30 min before 07:00 of an EJP day, peak 07-01h."""
        t = self.local()
        d = t.date()
        yesterday = d - datetime.timedelta(days=1)
        peak = (self.ejp_day(d) and t.hour >= EJP_START) or (
            self.ejp_day(yesterday) and t.hour < EJP_END
        )
        notice = self.ejp_day(d) and t.hour == EJP_START - 1 and t.minute >= 30
        return notice, peak

    def peak_day(self):
        """Start date of the EJP peak announced or running, or None (for DPM1/FPM1)."""
        notice, peak = self.ejp_state()
        if not (notice or peak):
            return None
        t = self.local()
        return t.date() if t.hour >= EJP_START - 1 else t.date() - datetime.timedelta(days=1)

    def tariff_index(self):
        """Current supplier index, 1-based (NTARF, STGE bits 10-13, the EASF register)."""
        c = self.contract
        if c == "hchp":
            return 1 if self.is_hc() else 2
        if c == "tempo":
            return (self.colours()[0] - 1) * 2 + (1 if self.is_hc() else 2)
        if c == "ejp":
            return 2 if self.ejp_state()[1] else 1
        return 1

    def distributor_index(self):
        """1-based: HPH, HCH (winter, Nov-Mar), HPB, HCB (summer) for HC contracts, else 1."""
        if not self.hc_relay:
            return 1
        summer = self.local().month not in (11, 12, 1, 2, 3)
        return 1 + (2 if summer else 0) + (1 if self.is_hc() else 0)

    def relay_closed(self):
        """Relay 1 / dry contact: closed in off-peak hours (water heater), open in EJP peaks."""
        if self.hc_relay:
            return self.is_hc()
        if self.contract == "ejp":
            return not self.ejp_state()[1]
        return True

    # ---- the household ------------------------------------------------------------------
    def _diffuse_load(self):
        """Active power (W) of the smooth part of the load at this time of day."""
        t = self.local()
        h = t.hour + t.minute / 60
        p = self.standby + 900 * _bump(h, 7.5, 1.0) + 600 * _bump(h, 12.5, 0.8)
        p += 1600 * _bump(h, 19.5, 1.5)
        heat = self.heating * WINTERNESS[t.month] * (0.5 + 0.5 * _bump(h, 7, 2) + _bump(h, 19, 3))
        if self.contract == "ejp" and self.ejp_state()[1]:
            heat *= 0.3  # the point of EJP: shed heating during the peak
        if self.contract == "tempo" and self.colours()[0] == RED and not self.is_hc():
            heat *= 0.5
        return (p + heat) * math.exp(0.15 * self.wobble)

    def _water_heater(self):
        t = self.local()
        start = HC_START if self.hc_relay else 23
        hours = (t.hour - start) % 24 + t.minute / 60
        return self.water if hours < 2.5 - 1.0 * (WINTERNESS[t.month] == 0) else 0.0

    def _solar(self):
        if not self.solar:
            return 0.0
        t = self.local()
        h = t.hour + t.minute / 60
        doy = t.timetuple().tm_yday
        length = 12 + 4 * math.cos(2 * math.pi * (doy - 172) / 365)
        noon = 12.85 + (1 if is_summer(self.utc) else 0)
        x = (h - noon) / length + 0.5
        if not 0 < x < 1:
            return 0.0
        return self.solar * 0.8 * math.sin(math.pi * x) ** 1.5 * self.clouds

    def _step_noise(self, dt):
        r = self.rng
        a = math.exp(-dt / 300)
        self.wobble = self.wobble * a + r.gauss(0, 1) * math.sqrt(1 - a * a)
        b = math.exp(-dt / 900)
        self.clouds = min(1.0, max(0.15, self.clouds * b + (1 - b) * 0.8 + r.gauss(0, 0.1)))
        self.events = [e for e in self.events if e[0] > self.utc]
        h = self.local().hour
        rate = 0.8 if 7 <= h < 23 else 0.05  # appliance starts per hour
        if r.random() < 1 - math.exp(-rate * dt / 3600):
            watts, minutes = r.choice(((2000, 3), (1200, 4), (2500, 40), (2000, 60), (1800, 90)))
            end = self.utc + r.uniform(0.5, 1.5) * minutes * 60
            self.events.append([end, watts * r.uniform(0.8, 1.1), r.randrange(self.phases)])

    def _sample(self):
        """Recompute instantaneous powers, currents and voltages from the current state."""
        n = self.phases
        load = [self._diffuse_load() * s for s in self.split]
        load[0] += self._water_heater()
        for _, watts, ph in self.events:
            load[ph] += watts
        solar = [self._solar() / n] * n
        pf = [0.9 + 0.08 * min(1.0, p / 3000) for p in load]
        self.volts = [min(245.0, max(220.0, v + self.rng.gauss(0, 0.3))) for v in self.volts]
        forced = any(a <= self.utc < b for a, b in self.overloads)
        if forced:  # push phase 1 past both ISOUSC (historique) and PREF (standard)
            limit = max(self.pref * 1000 / n, self.isousc * self.volts[0])
            load[0] = max(load[0], 1.3 * limit * pf[0] + solar[0])
        net = [load[i] - solar[i] for i in range(n)]
        total = sum(net)
        self.pf = sum(p * f for p, f in zip(load, pf)) / max(1.0, sum(load))
        self.p_draw = max(0.0, total)
        self.p_inj = max(0.0, -total)
        self.s_draw = self.p_draw / self.pf
        self.s_inj = self.p_inj / 0.98
        self.s_phase = [abs(net[i]) / pf[i] for i in range(n)]
        self.s_phase_draw = [max(0.0, net[i]) / pf[i] for i in range(n)]
        self.amps = [self.s_phase[i] / self.volts[i] for i in range(n)]
        amps = [int(a + 0.5) for a in self.amps]
        over_hist = any(a > self.isousc for a in amps)
        self.overload = any(s > self.pref * 1000 / n for s in self.s_phase_draw)
        self.adps = amps[0] if n == 1 and amps[0] > self.isousc else 0
        self.adir = [a if a > self.isousc else 0 for a in amps] if n == 3 else []
        if over_hist:
            self.overload_until = self.utc + 60

    def short_frames(self):
        """Tri historique: short frames while a phase is over ISOUSC and for 1 minute after."""
        return self.phases == 3 and self.utc < self.overload_until

    # ---- time passes --------------------------------------------------------------------
    def advance(self, dt):
        """Integrate the powers shown at this instant over `dt` seconds, then move on."""
        t0 = self.utc
        self._energy(dt)
        self.cc_draw.add(self.p_draw, t0, t0 + dt)
        self.cc_inj.add(self.p_inj, t0, t0 + dt)
        for avg, v in zip(self.umoy, self.volts):
            avg.add(v, t0, t0 + dt)
        self.utc += dt
        self._step_noise(dt)
        self._sample()
        self._track_max()

    def _energy(self, dt):
        self.carry[0] += self.p_draw * dt / 3600
        self.carry[1] += self.p_inj * dt / 3600
        wh = int(self.carry[0])
        self.carry[0] -= wh
        self.east += wh
        self.easf[self.tariff_index() - 1] += wh
        self.easd[self.distributor_index() - 1] += wh
        inj = int(self.carry[1])
        self.carry[1] -= inj
        self.eait += inj
        # Reactive energy: the house is inductive (Q1 drawing, Q2 injecting); small capacitive
        # parts from electronics at low load (Q4) and the inverter (Q3).
        q = (self.p_draw + self.p_inj) * math.tan(math.acos(min(0.999, self.pf))) * dt / 3600
        quad = (0 if self.p_draw >= 300 else 3) if self.p_draw > 0 else 1
        self.qcarry[quad] += q
        self.qcarry[2] += self.p_inj * 0.01 * dt / 3600
        for i in range(4):
            n = int(self.qcarry[i])
            self.qcarry[i] -= n
            self.erq[i] += n

    def _track_max(self):
        day = self.local().date()
        if day != self.day:  # midnight: today's maxima become yesterday's
            self.day = day
            self.smax_prev, self.smaxin_prev = self.smax, self.smaxin
            self.smax = [0.0, self.utc, [[0.0, self.utc] for _ in range(self.phases)]]
            self.smaxin = [0.0, self.utc]
        if self.s_draw > self.smax[0]:
            self.smax[0:2] = [self.s_draw, self.utc]
        for i, s in enumerate(self.s_phase_draw):
            if s > self.smax[2][i][0]:
                self.smax[2][i] = [s, self.utc]
        if self.s_inj > self.smaxin[0]:
            self.smaxin = [self.s_inj, self.utc]

"""Label lists of one TIC frame from a tools/ticsim_model.Meter (historique or standard).

Groups come out in transmission order (tic-protocol.md §5 and §6) as (label, value) or
(label, value, horodate) tuples for tic.encode.frame. Labels that do not apply to the meter's
phases/contract/moment are left out, as a meter does.
"""

import datetime

from ticsim_model import horodate, utc_of_local

HIST_INDEXES = {
    "base": ("BASE",),
    "producer": ("BASE",),  # historique has no producer labels: BASE = drawn energy (EAST)
    "hchp": ("HCHC", "HCHP"),
    "tempo": ("BBRHCJB", "BBRHPJB", "BBRHCJW", "BBRHPJW", "BBRHCJR", "BBRHPJR"),
    "ejp": ("EJPHN", "EJPHPM"),
}
OPTARIF = {"base": "BASE", "producer": "BASE", "hchp": "HC..", "tempo": "BBR(", "ejp": "EJP."}
DEMAIN = ("----", "BLEU", "BLAN", "ROUG")

# Supplier texts (16 characters, padded as real meters do), by contract and tariff index.
NGTF = {
    "base": "      BASE      ",
    "producer": "      BASE      ",
    "hchp": " H PLEINE/CREUSE",
    "tempo": "     TEMPO      ",
    "ejp": "      EJP       ",
}
LTARF = {
    "base": ("      BASE      ",),
    "producer": ("      BASE      ",),
    "hchp": (" HEURE  CREUSE  ", " HEURE  PLEINE  "),
    "tempo": (
        "    HC  BLEU    ",
        "    HP  BLEU    ",
        "   HC  BLANC    ",
        "   HP  BLANC    ",
        "    HC  ROUGE   ",
        "    HP  ROUGE   ",
    ),
    "ejp": (" HEURE  NORMALE ", "  HEURE POINTE  "),
}
MSG1 = "PAS DE          MESSAGE         "
NONUTILE = "NONUTILE"


def _profile(*blocks):
    """PJOURF+1 / PPOINTE: 11 blocks `HHMMSSSS` (bit 14 = dry contact follows the tariff)."""
    items = ["%s%04X" % (hhmm, 0x4000 | index) for hhmm, index in blocks]
    return " ".join(items + [NONUTILE] * (11 - len(items)))


def _ptec(m):
    c = m.contract
    if c == "hchp":
        return "HC.." if m.is_hc() else "HP.."
    if c == "tempo":
        return "H%sJ%s" % ("C" if m.is_hc() else "P", "BWR"[m.colours()[0] - 1])
    if c == "ejp":
        return "PM.." if m.ejp_state()[1] else "HN.."
    return "TH.."


def _amps(m):
    return [min(999, int(a + 0.5)) for a in m.amps]


def _va(x):
    return "%05d" % min(99999, int(x + 0.5))


def historique(m):
    """Long frame (mono or tri)."""
    tri = m.phases == 3
    g = [("ADCO", m.adco), ("OPTARIF", OPTARIF[m.contract]), ("ISOUSC", "%02d" % m.isousc)]
    for i, label in enumerate(HIST_INDEXES[m.contract]):
        g.append((label, "%09d" % m.easf[i]))
    if m.contract == "ejp" and m.ejp_state()[0]:
        g.append(("PEJP", "30"))
    g.append(("PTEC", _ptec(m)))
    if m.contract == "tempo":
        g.append(("DEMAIN", DEMAIN[m.colours()[1]]))
    amps = _amps(m)
    if tri:
        g += [("IINST%d" % (i + 1), "%03d" % a) for i, a in enumerate(amps)]
        g += [("IMAX%d" % (i + 1), "060") for i in range(3)]
        g.append(("PMAX", _va(m.smax_prev[0])))
    else:
        g.append(("IINST", "%03d" % amps[0]))
        if m.adps:
            g.append(("ADPS", "%03d" % min(999, m.adps)))
        g.append(("IMAX", "090"))
    # Linky: PAPP is the drawn apparent power, so a producer's injection shows as 0.
    g += [("PAPP", "%05d" % (int(m.s_draw + 5) // 10 * 10)), ("HHPHC", "A")]
    g.append(("MOTDETAT", "000000"))
    if tri:
        g.append(("PPOT", "00"))
    return g


def historique_short(m):
    """Tri overload frame: ADIR of the phases in overload, ADCO, IINST1-3."""
    g = [("ADIR%d" % (i + 1), "%03d" % min(999, a)) for i, a in enumerate(m.adir) if a]
    g.append(("ADCO", m.adco))
    g += [("IINST%d" % (i + 1), "%03d" % a) for i, a in enumerate(_amps(m))]
    return g


def stge(m):
    """The 32-bit status register (tic-protocol.md §7) as 8 hex digits."""
    v = 0 if m.relay_closed() else 1  # bit 0: dry contact open
    v |= (m.overload << 7) | (m.producer << 8) | ((m.p_inj > 0) << 9)
    v |= (m.tariff_index() - 1) << 10 | (m.distributor_index() - 1) << 14
    v |= m.degraded << 16 | 1 << 17  # degraded clock; TIC in standard mode
    v |= 3 << 19 | 1 << 21  # Euridis with security, CPL New/Lock (0x3A as in captures)
    if m.contract == "tempo":
        today, tomorrow = m.colours()
        v |= today << 24 | tomorrow << 26
    if m.contract == "ejp":
        notice, peak = m.ejp_state()
        v |= notice << 28 | peak << 30
    return "%08X" % v


def _next_day_profile(m):
    c = m.contract
    if c == "hchp":
        return _profile(("0000", 1), ("0600", 2), ("2200", 1))
    if c == "tempo":
        colour = m.colours()[1] or 1  # not announced yet: the usual blue day
        hc = (colour - 1) * 2 + 1
        return _profile(("0000", hc), ("0600", hc + 1), ("2200", hc))
    return _profile(("0000", 1))


def standard(m):
    tri = m.phases == 3
    n = m.phases
    c = m.contract

    def hd(utc):
        return horodate(utc, m.degraded)

    ph = [str(i + 1) for i in range(n)]
    g = [("ADSC", m.adco), ("VTIC", "02"), ("DATE", "", hd(m.utc))]
    g += [("NGTF", NGTF[c]), ("LTARF", LTARF[c][m.tariff_index() - 1]), ("EAST", "%09d" % m.east)]
    g += [("EASF%02d" % (i + 1), "%09d" % v) for i, v in enumerate(m.easf)]
    g += [("EASD%02d" % (i + 1), "%09d" % v) for i, v in enumerate(m.easd)]
    if m.producer:
        g.append(("EAIT", "%09d" % m.eait))
        g += [("ERQ%d" % (i + 1), "%09d" % v) for i, v in enumerate(m.erq)]
    g += [("IRMS" + p, "%03d" % a) for p, a in zip(ph, _amps(m))]
    g += [("URMS" + p, "%03d" % int(v + 0.5)) for p, v in zip(ph, m.volts)]
    g += [("PREF", "%02d" % m.pref), ("PCOUP", "%02d" % m.pref), ("SINSTS", _va(m.s_draw))]
    if tri:
        g += [("SINSTS" + p, _va(s)) for p, s in zip(ph, m.s_phase_draw)]
    g.append(("SMAXSN", _va(m.smax[0]), hd(m.smax[1])))
    if tri:
        g += [("SMAXSN" + p, _va(v), hd(t)) for p, (v, t) in zip(ph, m.smax[2])]
    g.append(("SMAXSN-1", _va(m.smax_prev[0]), hd(m.smax_prev[1])))
    if tri:
        g += [("SMAXSN%s-1" % p, _va(v), hd(t)) for p, (v, t) in zip(ph, m.smax_prev[2])]
    if m.producer:
        g.append(("SINSTI", _va(m.s_inj)))
        g.append(("SMAXIN", _va(m.smaxin[0]), hd(m.smaxin[1])))
        g.append(("SMAXIN-1", _va(m.smaxin_prev[0]), hd(m.smaxin_prev[1])))
    curves = [("CCASN", m.cc_draw)] + ([("CCAIN", m.cc_inj)] if m.producer else [])
    for label, avg in curves:
        g.append((label, _va(avg.last[0]), hd(avg.last[1])))
        g.append((label + "-1", _va(avg.prev[0]), hd(avg.prev[1])))
    g += [("UMOY" + p, "%03d" % int(a.last[0] + 0.5), hd(a.last[1])) for p, a in zip(ph, m.umoy)]
    g.append(("STGE", stge(m)))
    day = m.peak_day() if c == "ejp" else None
    if day is not None:  # EJP mobile peak announced or running: DPM1/FPM1, season char SP
        start = datetime.datetime(day.year, day.month, day.day, 7)
        end = start + datetime.timedelta(hours=18)
        g.append(("DPM1", "00", horodate(utc_of_local(start), season=False)))
        g.append(("FPM1", "00", horodate(utc_of_local(end), season=False)))
    g += [("MSG1", MSG1), ("PRM", m.prm), ("RELAIS", "001" if m.relay_closed() else "000")]
    g += [("NTARF", "%02d" % m.tariff_index()), ("NJOURF", "00"), ("NJOURF+1", "00")]
    g.append(("PJOURF+1", _next_day_profile(m)))
    if day is not None and m.ejp_state()[0]:  # from the announce until the peak starts
        g.append(("PPOINTE", _profile(("0000", 1), ("0700", 2))))
    return g

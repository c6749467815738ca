"""The configs' text of lib/ha.py's decoded and diagnostics keys (ha.KEYS, then ha.DIAG_KEYS),
loaded for their configs only: a discovery round drops tic.label_docs (the labels' names) before
it loads this module, so that the two are never in the heap together.

    line(i) -> (name, template, JSON after the template)   of KEYS[i], then DIAG_KEYS
    PTEC                                the period's options in historique

An empty template is value_json.<key>. Enum options are the values firmware.state_json writes:
tic.decode's COLOURS and BREAKER names. Their bits (mode, binary_sensor) are ha._KEY_BITS.
"""

# One line per key: name;template;JSON after the template.
_TEXT = (  # one literal (built with + it would cost twice the heap)
    "Tariff period;;\n"
    "Tempo colour today;value_json.tempo_today | default('None');"
    ',"dev_cla":"enum","ops":["blue","white","red"]\n'
    "Tempo colour tomorrow;value_json.tempo_tomorrow | default('None');"
    ',"dev_cla":"enum","ops":["blue","white","red"]\n'
    'Dry contact open;;,"pl_on":"True","pl_off":"False","dev_cla":"opening"\n'
    'Breaker;;,"dev_cla":"enum","ops":["closed","open_overpower","open_overvoltage",'
    '"open_load_shedding","open_cpl_euridis_order","open_overheat_over_max_current",'
    '"open_overheat_under_max_current"]\n'
    'Overvoltage;;,"pl_on":"True","pl_off":"False","dev_cla":"problem"\n'
    'Overpower;;,"pl_on":"True","pl_off":"False","dev_cla":"problem"\n'
    "Tariff index;;\n"
    'Producer;;,"pl_on":"True","pl_off":"False"\n'
    "TIC state;;\n"
    "TIC mode;;\n"
    'TIC speed;;,"unit_of_meas":"Bd"\n'
    'Bytes received;;,"stat_cla":"total_increasing"\n'
    'Frames;;,"stat_cla":"total_increasing"\n'
    'Groups;;,"stat_cla":"total_increasing"\n'
    'Checksum errors;;,"stat_cla":"total_increasing"\n'
    'Format errors;;,"stat_cla":"total_increasing"\n'
    'Interrupted frames;;,"stat_cla":"total_increasing"\n'
    'Rejected indexes;;,"stat_cla":"total_increasing"\n'
    'Dropped values;;,"stat_cla":"total_increasing"\n'
    'Wi-Fi signal;;,"dev_cla":"signal_strength","unit_of_meas":"dBm","stat_cla":"measurement"\n'
    'Memory used;;,"dev_cla":"data_size","unit_of_meas":"B","stat_cla":"measurement"\n'
    'Uptime;;,"dev_cla":"duration","unit_of_meas":"s","stat_cla":"total_increasing"\n'
    "Firmware version;;\n"
    "Reset cause;;\n"
    "Last crash;(value_json.last_crash or 'none')[:255];\n"  # a state holds <= 255 chars
)
# The period in historique: PTEC's codes (standard's LTARF is the supplier's free text).
PTEC = (
    ',"dev_cla":"enum","ops":["TH..","HC..","HP..","HN..","PM..","HCJB","HPJB","HCJW","HPJW",'
    '"HCJR","HPJR"]'
)


def line(i):
    """(name, template, JSON after it) of key i (allocates them)."""
    a = 0
    for _ in range(i):
        a = _TEXT.index("\n", a) + 1
    return _TEXT[a : _TEXT.index("\n", a)].split(";")

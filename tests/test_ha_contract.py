# micropython: also
"""The Home Assistant ids and topics are a contract: the same meter and label give the same
unique_id and discovery topic in every firmware version, so an update never orphans an entity's
history (Energy dashboard) nor makes `_2` ghost entities. These literal tables pin them for one
meter id, every label of both modes, every decoded key and every diagnostics key. A change here
is a breaking change for every user: do not edit the tables to make a test pass.

Names: a TIC label as sent, a decoded key of `~/state`, or diag:<key> of `~/diagnostics`."""

import json

import ha
from tic import MODE_STANDARD, label_rows, labels

MID = "021861348497"

UNIQUE_IDS = """\
ADCO                   linky_021861348497_adco
OPTARIF                linky_021861348497_optarif
ISOUSC                 linky_021861348497_isousc
BASE                   linky_021861348497_base
HCHC                   linky_021861348497_hchc
HCHP                   linky_021861348497_hchp
EJPHN                  linky_021861348497_ejphn
EJPHPM                 linky_021861348497_ejphpm
BBRHCJB                linky_021861348497_bbrhcjb
BBRHPJB                linky_021861348497_bbrhpjb
BBRHCJW                linky_021861348497_bbrhcjw
BBRHPJW                linky_021861348497_bbrhpjw
BBRHCJR                linky_021861348497_bbrhcjr
BBRHPJR                linky_021861348497_bbrhpjr
PEJP                   linky_021861348497_pejp
PTEC                   linky_021861348497_ptec
DEMAIN                 linky_021861348497_demain
IINST                  linky_021861348497_iinst
IINST1                 linky_021861348497_iinst1
IINST2                 linky_021861348497_iinst2
IINST3                 linky_021861348497_iinst3
ADPS                   linky_021861348497_adps
ADIR1                  linky_021861348497_adir1
ADIR2                  linky_021861348497_adir2
ADIR3                  linky_021861348497_adir3
IMAX                   linky_021861348497_imax
IMAX1                  linky_021861348497_imax1
IMAX2                  linky_021861348497_imax2
IMAX3                  linky_021861348497_imax3
PMAX                   linky_021861348497_pmax
PAPP                   linky_021861348497_papp
HHPHC                  linky_021861348497_hhphc
MOTDETAT               linky_021861348497_motdetat
PPOT                   linky_021861348497_ppot
ADSC                   linky_021861348497_adsc
VTIC                   linky_021861348497_vtic
DATE                   linky_021861348497_date
NGTF                   linky_021861348497_ngtf
LTARF                  linky_021861348497_ltarf
EAST                   linky_021861348497_east
EASF01                 linky_021861348497_easf01
EASF02                 linky_021861348497_easf02
EASF03                 linky_021861348497_easf03
EASF04                 linky_021861348497_easf04
EASF05                 linky_021861348497_easf05
EASF06                 linky_021861348497_easf06
EASF07                 linky_021861348497_easf07
EASF08                 linky_021861348497_easf08
EASF09                 linky_021861348497_easf09
EASF10                 linky_021861348497_easf10
EASD01                 linky_021861348497_easd01
EASD02                 linky_021861348497_easd02
EASD03                 linky_021861348497_easd03
EASD04                 linky_021861348497_easd04
EAIT                   linky_021861348497_eait
ERQ1                   linky_021861348497_erq1
ERQ2                   linky_021861348497_erq2
ERQ3                   linky_021861348497_erq3
ERQ4                   linky_021861348497_erq4
IRMS1                  linky_021861348497_irms1
IRMS2                  linky_021861348497_irms2
IRMS3                  linky_021861348497_irms3
URMS1                  linky_021861348497_urms1
URMS2                  linky_021861348497_urms2
URMS3                  linky_021861348497_urms3
PREF                   linky_021861348497_pref
PCOUP                  linky_021861348497_pcoup
SINSTS                 linky_021861348497_sinsts
SINSTS1                linky_021861348497_sinsts1
SINSTS2                linky_021861348497_sinsts2
SINSTS3                linky_021861348497_sinsts3
SMAXSN                 linky_021861348497_smaxsn
SMAXSN1                linky_021861348497_smaxsn1
SMAXSN2                linky_021861348497_smaxsn2
SMAXSN3                linky_021861348497_smaxsn3
SMAXSN-1               linky_021861348497_smaxsn_1
SMAXSN1-1              linky_021861348497_smaxsn1_1
SMAXSN2-1              linky_021861348497_smaxsn2_1
SMAXSN3-1              linky_021861348497_smaxsn3_1
SINSTI                 linky_021861348497_sinsti
SMAXIN                 linky_021861348497_smaxin
SMAXIN-1               linky_021861348497_smaxin_1
CCASN                  linky_021861348497_ccasn
CCASN-1                linky_021861348497_ccasn_1
CCAIN                  linky_021861348497_ccain
CCAIN-1                linky_021861348497_ccain_1
UMOY1                  linky_021861348497_umoy1
UMOY2                  linky_021861348497_umoy2
UMOY3                  linky_021861348497_umoy3
STGE                   linky_021861348497_stge
DPM1                   linky_021861348497_dpm1
FPM1                   linky_021861348497_fpm1
DPM2                   linky_021861348497_dpm2
FPM2                   linky_021861348497_fpm2
DPM3                   linky_021861348497_dpm3
FPM3                   linky_021861348497_fpm3
MSG1                   linky_021861348497_msg1
MSG2                   linky_021861348497_msg2
PRM                    linky_021861348497_prm
RELAIS                 linky_021861348497_relais
NTARF                  linky_021861348497_ntarf
NJOURF                 linky_021861348497_njourf
NJOURF+1               linky_021861348497_njourf_1
PJOURF+1               linky_021861348497_pjourf_1
PPOINTE                linky_021861348497_ppointe
period                 linky_021861348497_period
tempo_today            linky_021861348497_tempo_today
tempo_tomorrow         linky_021861348497_tempo_tomorrow
contact_open           linky_021861348497_contact_open
cutoff                 linky_021861348497_cutoff
overvoltage            linky_021861348497_overvoltage
overpower              linky_021861348497_overpower
tariff_index           linky_021861348497_tariff_index
producer               linky_021861348497_producer
diag:tic_state         linky_021861348497_diag_tic_state
diag:tic_mode          linky_021861348497_diag_tic_mode
diag:baud              linky_021861348497_diag_baud
diag:bytes             linky_021861348497_diag_bytes
diag:frames            linky_021861348497_diag_frames
diag:groups            linky_021861348497_diag_groups
diag:checksum_errors   linky_021861348497_diag_checksum_errors
diag:format_errors     linky_021861348497_diag_format_errors
diag:interrupted       linky_021861348497_diag_interrupted
diag:rejected_indexes  linky_021861348497_diag_rejected_indexes
diag:dropped_values    linky_021861348497_diag_dropped_values
diag:rssi              linky_021861348497_diag_rssi
diag:mem_used          linky_021861348497_diag_mem_used
diag:uptime_s          linky_021861348497_diag_uptime_s
diag:version           linky_021861348497_diag_version
diag:reset_cause       linky_021861348497_diag_reset_cause
diag:last_crash        linky_021861348497_diag_last_crash
"""

TOPICS = """\
ADCO                   homeassistant/sensor/linky_021861348497/adco/config
OPTARIF                homeassistant/sensor/linky_021861348497/optarif/config
ISOUSC                 homeassistant/sensor/linky_021861348497/isousc/config
BASE                   homeassistant/sensor/linky_021861348497/base/config
HCHC                   homeassistant/sensor/linky_021861348497/hchc/config
HCHP                   homeassistant/sensor/linky_021861348497/hchp/config
EJPHN                  homeassistant/sensor/linky_021861348497/ejphn/config
EJPHPM                 homeassistant/sensor/linky_021861348497/ejphpm/config
BBRHCJB                homeassistant/sensor/linky_021861348497/bbrhcjb/config
BBRHPJB                homeassistant/sensor/linky_021861348497/bbrhpjb/config
BBRHCJW                homeassistant/sensor/linky_021861348497/bbrhcjw/config
BBRHPJW                homeassistant/sensor/linky_021861348497/bbrhpjw/config
BBRHCJR                homeassistant/sensor/linky_021861348497/bbrhcjr/config
BBRHPJR                homeassistant/sensor/linky_021861348497/bbrhpjr/config
PEJP                   homeassistant/sensor/linky_021861348497/pejp/config
PTEC                   homeassistant/sensor/linky_021861348497/ptec/config
DEMAIN                 homeassistant/sensor/linky_021861348497/demain/config
IINST                  homeassistant/sensor/linky_021861348497/iinst/config
IINST1                 homeassistant/sensor/linky_021861348497/iinst1/config
IINST2                 homeassistant/sensor/linky_021861348497/iinst2/config
IINST3                 homeassistant/sensor/linky_021861348497/iinst3/config
ADPS                   homeassistant/sensor/linky_021861348497/adps/config
ADIR1                  homeassistant/sensor/linky_021861348497/adir1/config
ADIR2                  homeassistant/sensor/linky_021861348497/adir2/config
ADIR3                  homeassistant/sensor/linky_021861348497/adir3/config
IMAX                   homeassistant/sensor/linky_021861348497/imax/config
IMAX1                  homeassistant/sensor/linky_021861348497/imax1/config
IMAX2                  homeassistant/sensor/linky_021861348497/imax2/config
IMAX3                  homeassistant/sensor/linky_021861348497/imax3/config
PMAX                   homeassistant/sensor/linky_021861348497/pmax/config
PAPP                   homeassistant/sensor/linky_021861348497/papp/config
HHPHC                  homeassistant/sensor/linky_021861348497/hhphc/config
MOTDETAT               homeassistant/sensor/linky_021861348497/motdetat/config
PPOT                   homeassistant/sensor/linky_021861348497/ppot/config
ADSC                   homeassistant/sensor/linky_021861348497/adsc/config
VTIC                   homeassistant/sensor/linky_021861348497/vtic/config
DATE                   homeassistant/sensor/linky_021861348497/date/config
NGTF                   homeassistant/sensor/linky_021861348497/ngtf/config
LTARF                  homeassistant/sensor/linky_021861348497/ltarf/config
EAST                   homeassistant/sensor/linky_021861348497/east/config
EASF01                 homeassistant/sensor/linky_021861348497/easf01/config
EASF02                 homeassistant/sensor/linky_021861348497/easf02/config
EASF03                 homeassistant/sensor/linky_021861348497/easf03/config
EASF04                 homeassistant/sensor/linky_021861348497/easf04/config
EASF05                 homeassistant/sensor/linky_021861348497/easf05/config
EASF06                 homeassistant/sensor/linky_021861348497/easf06/config
EASF07                 homeassistant/sensor/linky_021861348497/easf07/config
EASF08                 homeassistant/sensor/linky_021861348497/easf08/config
EASF09                 homeassistant/sensor/linky_021861348497/easf09/config
EASF10                 homeassistant/sensor/linky_021861348497/easf10/config
EASD01                 homeassistant/sensor/linky_021861348497/easd01/config
EASD02                 homeassistant/sensor/linky_021861348497/easd02/config
EASD03                 homeassistant/sensor/linky_021861348497/easd03/config
EASD04                 homeassistant/sensor/linky_021861348497/easd04/config
EAIT                   homeassistant/sensor/linky_021861348497/eait/config
ERQ1                   homeassistant/sensor/linky_021861348497/erq1/config
ERQ2                   homeassistant/sensor/linky_021861348497/erq2/config
ERQ3                   homeassistant/sensor/linky_021861348497/erq3/config
ERQ4                   homeassistant/sensor/linky_021861348497/erq4/config
IRMS1                  homeassistant/sensor/linky_021861348497/irms1/config
IRMS2                  homeassistant/sensor/linky_021861348497/irms2/config
IRMS3                  homeassistant/sensor/linky_021861348497/irms3/config
URMS1                  homeassistant/sensor/linky_021861348497/urms1/config
URMS2                  homeassistant/sensor/linky_021861348497/urms2/config
URMS3                  homeassistant/sensor/linky_021861348497/urms3/config
PREF                   homeassistant/sensor/linky_021861348497/pref/config
PCOUP                  homeassistant/sensor/linky_021861348497/pcoup/config
SINSTS                 homeassistant/sensor/linky_021861348497/sinsts/config
SINSTS1                homeassistant/sensor/linky_021861348497/sinsts1/config
SINSTS2                homeassistant/sensor/linky_021861348497/sinsts2/config
SINSTS3                homeassistant/sensor/linky_021861348497/sinsts3/config
SMAXSN                 homeassistant/sensor/linky_021861348497/smaxsn/config
SMAXSN1                homeassistant/sensor/linky_021861348497/smaxsn1/config
SMAXSN2                homeassistant/sensor/linky_021861348497/smaxsn2/config
SMAXSN3                homeassistant/sensor/linky_021861348497/smaxsn3/config
SMAXSN-1               homeassistant/sensor/linky_021861348497/smaxsn_1/config
SMAXSN1-1              homeassistant/sensor/linky_021861348497/smaxsn1_1/config
SMAXSN2-1              homeassistant/sensor/linky_021861348497/smaxsn2_1/config
SMAXSN3-1              homeassistant/sensor/linky_021861348497/smaxsn3_1/config
SINSTI                 homeassistant/sensor/linky_021861348497/sinsti/config
SMAXIN                 homeassistant/sensor/linky_021861348497/smaxin/config
SMAXIN-1               homeassistant/sensor/linky_021861348497/smaxin_1/config
CCASN                  homeassistant/sensor/linky_021861348497/ccasn/config
CCASN-1                homeassistant/sensor/linky_021861348497/ccasn_1/config
CCAIN                  homeassistant/sensor/linky_021861348497/ccain/config
CCAIN-1                homeassistant/sensor/linky_021861348497/ccain_1/config
UMOY1                  homeassistant/sensor/linky_021861348497/umoy1/config
UMOY2                  homeassistant/sensor/linky_021861348497/umoy2/config
UMOY3                  homeassistant/sensor/linky_021861348497/umoy3/config
STGE                   homeassistant/sensor/linky_021861348497/stge/config
DPM1                   homeassistant/sensor/linky_021861348497/dpm1/config
FPM1                   homeassistant/sensor/linky_021861348497/fpm1/config
DPM2                   homeassistant/sensor/linky_021861348497/dpm2/config
FPM2                   homeassistant/sensor/linky_021861348497/fpm2/config
DPM3                   homeassistant/sensor/linky_021861348497/dpm3/config
FPM3                   homeassistant/sensor/linky_021861348497/fpm3/config
MSG1                   homeassistant/sensor/linky_021861348497/msg1/config
MSG2                   homeassistant/sensor/linky_021861348497/msg2/config
PRM                    homeassistant/sensor/linky_021861348497/prm/config
RELAIS                 homeassistant/sensor/linky_021861348497/relais/config
NTARF                  homeassistant/sensor/linky_021861348497/ntarf/config
NJOURF                 homeassistant/sensor/linky_021861348497/njourf/config
NJOURF+1               homeassistant/sensor/linky_021861348497/njourf_1/config
PJOURF+1               homeassistant/sensor/linky_021861348497/pjourf_1/config
PPOINTE                homeassistant/sensor/linky_021861348497/ppointe/config
period                 homeassistant/sensor/linky_021861348497/period/config
tempo_today            homeassistant/sensor/linky_021861348497/tempo_today/config
tempo_tomorrow         homeassistant/sensor/linky_021861348497/tempo_tomorrow/config
contact_open           homeassistant/binary_sensor/linky_021861348497/contact_open/config
cutoff                 homeassistant/sensor/linky_021861348497/cutoff/config
overvoltage            homeassistant/binary_sensor/linky_021861348497/overvoltage/config
overpower              homeassistant/binary_sensor/linky_021861348497/overpower/config
tariff_index           homeassistant/sensor/linky_021861348497/tariff_index/config
producer               homeassistant/binary_sensor/linky_021861348497/producer/config
diag:tic_state         homeassistant/sensor/linky_021861348497/diag_tic_state/config
diag:tic_mode          homeassistant/sensor/linky_021861348497/diag_tic_mode/config
diag:baud              homeassistant/sensor/linky_021861348497/diag_baud/config
diag:bytes             homeassistant/sensor/linky_021861348497/diag_bytes/config
diag:frames            homeassistant/sensor/linky_021861348497/diag_frames/config
diag:groups            homeassistant/sensor/linky_021861348497/diag_groups/config
diag:checksum_errors   homeassistant/sensor/linky_021861348497/diag_checksum_errors/config
diag:format_errors     homeassistant/sensor/linky_021861348497/diag_format_errors/config
diag:interrupted       homeassistant/sensor/linky_021861348497/diag_interrupted/config
diag:rejected_indexes  homeassistant/sensor/linky_021861348497/diag_rejected_indexes/config
diag:dropped_values    homeassistant/sensor/linky_021861348497/diag_dropped_values/config
diag:rssi              homeassistant/sensor/linky_021861348497/diag_rssi/config
diag:mem_used          homeassistant/sensor/linky_021861348497/diag_mem_used/config
diag:uptime_s          homeassistant/sensor/linky_021861348497/diag_uptime_s/config
diag:version           homeassistant/sensor/linky_021861348497/diag_version/config
diag:reset_cause       homeassistant/sensor/linky_021861348497/diag_reset_cause/config
diag:last_crash        homeassistant/sensor/linky_021861348497/diag_last_crash/config
"""


def _table(text):
    return [tuple(line.split()) for line in text.splitlines()]


def _code(name):
    if name.startswith("diag:"):
        return ha.DIAG + ha.DIAG_KEYS.index(name[5:])
    if name in ha.KEYS:
        return ha.DECODED + ha.KEYS.index(name)
    r = labels.index(name)
    assert r >= 0, name
    return r


def _disc(name):
    r = labels.index(name)
    mode = label_rows.mode(r) if r >= 0 else MODE_STANDARD
    return ha.Discovery(MID, mode)


def test_unique_ids_are_pinned():
    for name, uid in _table(UNIQUE_IDS):
        assert _disc(name).unique_id(_code(name)) == uid, name


def test_topics_are_pinned():
    buf = bytearray(ha.TOPIC_MAX)
    for name, topic in _table(TOPICS):
        n = _disc(name).topic(_code(name), buf)
        assert bytes(buf[:n]).decode() == topic, name


def test_the_payload_carries_the_pinned_unique_id():
    buf = bytearray(ha.PAYLOAD_MAX)
    for name, uid in _table(UNIQUE_IDS):
        n = _disc(name).config(_code(name), buf)
        assert json.loads(bytes(buf[:n]))["uniq_id"] == uid, name


def test_every_entity_is_pinned():
    names = [name for name, _ in _table(UNIQUE_IDS)]
    assert names == [name for name, _ in _table(TOPICS)]
    want = [label_rows.name(r) for r in range(labels.COUNT)]
    want += list(ha.KEYS) + ["diag:" + k for k in ha.DIAG_KEYS]
    assert sorted(names) == sorted(want)


def test_the_rule_behind_the_tables():
    # object = label in lower case with '-' and '+' as '_', the decoded key, or diag_<key>;
    # unique_id = linky_<meter id>_<object>; topic = <ha_prefix>/<component>/linky_<id>/...
    for name, uid in _table(UNIQUE_IDS):
        if name.startswith("diag:"):
            obj = "diag_" + name[5:]
        else:
            obj = name.lower().replace("-", "_").replace("+", "_")
        assert uid == "linky_%s_%s" % (MID, obj), name
    for name, topic in _table(TOPICS):
        parts = topic.split("/")
        assert parts[0] == "homeassistant" and parts[2] == "linky_" + MID, name
        assert parts[1] in ("sensor", "binary_sensor") and parts[4] == "config", name


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())

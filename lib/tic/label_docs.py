"""English descriptions of the TIC labels, out of tic.labels so that they cost heap only when
asked for (tic.label_rows.description, also reachable as tic.labels.description, e.g. for
Home Assistant discovery).

TEXT has one line per row of tic.labels, in the same order: the label, a space, its
description. One str (about 3.5 KB) rather than 105 (about 8 KB); the label at the start of
each line lets the tests prove the two tables stay aligned.
"""

TEXT = """\
ADCO Meter address (serial number)
OPTARIF Tariff option
ISOUSC Subscribed current
BASE Energy index, Base option
HCHC Energy index, off-peak hours
HCHP Energy index, peak hours
EJPHN Energy index, EJP normal hours
EJPHPM Energy index, EJP mobile peak hours
BBRHCJB Energy index, Tempo off-peak, blue days
BBRHPJB Energy index, Tempo peak, blue days
BBRHCJW Energy index, Tempo off-peak, white days
BBRHPJW Energy index, Tempo peak, white days
BBRHCJR Energy index, Tempo off-peak, red days
BBRHPJR Energy index, Tempo peak, red days
PEJP EJP notice: peak starts in 30 min
PTEC Current tariff period
DEMAIN Tempo colour of tomorrow
IINST RMS current
IINST1 RMS current, phase 1
IINST2 RMS current, phase 2
IINST3 RMS current, phase 3
ADPS Overload warning: current over limit
ADIR1 Overload warning, phase 1
ADIR2 Overload warning, phase 2
ADIR3 Overload warning, phase 3
IMAX Maximum current
IMAX1 Maximum current, phase 1
IMAX2 Maximum current, phase 2
IMAX3 Maximum current, phase 3
PMAX Maximum three-phase power reached
PAPP Apparent power (10 VA steps)
HHPHC Peak/off-peak timetable code
MOTDETAT Meter status word
PPOT Phase potentials (bit set: phase absent)
ADSC Meter address (serial number)
VTIC TIC version
DATE Meter date and time
NGTF Supplier calendar name
LTARF Current supplier tariff label
EAST Total energy drawn
EASF01 Energy drawn, supplier index 1
EASF02 Energy drawn, supplier index 2
EASF03 Energy drawn, supplier index 3
EASF04 Energy drawn, supplier index 4
EASF05 Energy drawn, supplier index 5
EASF06 Energy drawn, supplier index 6
EASF07 Energy drawn, supplier index 7
EASF08 Energy drawn, supplier index 8
EASF09 Energy drawn, supplier index 9
EASF10 Energy drawn, supplier index 10
EASD01 Energy drawn, distributor index 1
EASD02 Energy drawn, distributor index 2
EASD03 Energy drawn, distributor index 3
EASD04 Energy drawn, distributor index 4
EAIT Total energy injected
ERQ1 Reactive energy, quadrant 1
ERQ2 Reactive energy, quadrant 2
ERQ3 Reactive energy, quadrant 3
ERQ4 Reactive energy, quadrant 4
IRMS1 RMS current, phase 1
IRMS2 RMS current, phase 2
IRMS3 RMS current, phase 3
URMS1 RMS voltage, phase 1
URMS2 RMS voltage, phase 2
URMS3 RMS voltage, phase 3
PREF Reference (subscribed) power
PCOUP Cut-off power
SINSTS Apparent power drawn
SINSTS1 Apparent power drawn, phase 1
SINSTS2 Apparent power drawn, phase 2
SINSTS3 Apparent power drawn, phase 3
SMAXSN Max power drawn today
SMAXSN1 Max power drawn today, phase 1
SMAXSN2 Max power drawn today, phase 2
SMAXSN3 Max power drawn today, phase 3
SMAXSN-1 Max power drawn yesterday
SMAXSN1-1 Max power drawn yesterday, phase 1
SMAXSN2-1 Max power drawn yesterday, phase 2
SMAXSN3-1 Max power drawn yesterday, phase 3
SINSTI Apparent power injected
SMAXIN Max power injected today
SMAXIN-1 Max power injected yesterday
CCASN Load curve, last point (drawn)
CCASN-1 Load curve, previous point (drawn)
CCAIN Load curve, last point (injected)
CCAIN-1 Load curve, previous point (injected)
UMOY1 Mean voltage, phase 1
UMOY2 Mean voltage, phase 2
UMOY3 Mean voltage, phase 3
STGE Status register
DPM1 Start of mobile peak 1
FPM1 End of mobile peak 1
DPM2 Start of mobile peak 2
FPM2 End of mobile peak 2
DPM3 Start of mobile peak 3
FPM3 End of mobile peak 3
MSG1 Short message
MSG2 Ultra-short message
PRM Delivery point id (PRM)
RELAIS Relay states (bit n-1: relay n closed)
NTARF Current supplier tariff index
NJOURF Current supplier day profile
NJOURF+1 Next day's supplier day profile
PJOURF+1 Next day's profile (switch times)
PPOINTE Next peak day's profile
"""


def describe(r):
    """The description of row index r (0 <= r < tic.labels.COUNT). Allocates the str."""
    a = 0
    for _ in range(r):
        a = TEXT.index("\n", a) + 1
    return TEXT[TEXT.index(" ", a) + 1 : TEXT.index("\n", a)]

"""Allow-lists of the SQL compiler: functions, sqlglot expression classes, table functions, formats.

Everything here is an *allow*-list: the compiler rejects whatever is not named below.

Function names
    ``AGGREGATE_FUNCTION_NAMES`` and ``SCALAR_FUNCTION_NAMES`` were built from ``system.functions`` of chDB
    4.4.0 (ClickHouse 26.9) by category, then reviewed by hand. Whole categories are left out: Dictionary,
    Embedded Dictionary, Internal, Introspection, AI, Machine Learning, Encryption, Time Series,
    NumericIndexedVector, QBit, and most of "Other" (``file``, ``getSetting``, ``hostName``, ``currentUser``,
    ``joinGet``, ``sleep`` ...). Names are matched lower-cased; aggregate functions also match with
    combinator suffixes (``sumIf``, ``uniqMergeState``, ``countDistinct`` ...). Aliases are listed when their
    target is allowed.

sqlglot classes
    sqlglot turns many function calls into typed nodes (``toStartOfDay(x)`` -> ``exp.TimestampTrunc``,
    ``currentDatabase()`` -> ``exp.CurrentDatabase``). A typed function node is allowed only when its class is
    in ``FUNCTION_CLASSES`` *and* the name the caller wrote (sqlglot keeps it in ``meta["clickhouse_name"]``)
    is an allowed function name. ``SYNTAX_CLASSES`` are the other node classes a SELECT may contain.
"""

from __future__ import annotations

import re
from functools import lru_cache

from sqlglot import exp


def _names(text: str) -> frozenset[str]:
    return frozenset(w for w in text.split() if not w.startswith("#"))


AGGREGATE_FUNCTION_NAMES = _names(
    """
    aggThrow analysisOfVariance anova any any_respect_nulls any_value any_value_respect_nulls anyHeavy
    anyLast anyLast_respect_nulls anyLastRespectNulls anyRespectNulls anyValueRespectNulls
    approx_top_count approx_top_k approx_top_sum argAndMax argAndMin argMax argMin array_agg avg
    avgWeighted BIT_AND BIT_OR BIT_XOR boundingRatio categoricalInformationValue contingency corr
    corrMatrix corrStable count COVAR_POP COVAR_SAMP covarPop covarPopMatrix covarPopStable covarSamp
    covarSampMatrix covarSampStable cramersV cramersVBiasCorrected cume_dist deltaSum deltaSumTimestamp
    dense_rank denseRank distinctDynamicTypes distinctJSONPaths distinctJSONPathsAndTypes entropy
    estimateCompressionRatio exponentialMovingAverage exponentialTimeDecayedAvg
    exponentialTimeDecayedCount exponentialTimeDecayedMax exponentialTimeDecayedSum first_value
    first_value_respect_nulls firstValueRespectNulls gini group_concat groupArray groupArrayInsertAt
    groupArrayIntersect groupArrayLast groupArrayMovingAvg groupArrayMovingSum groupArraySample
    groupArraySorted groupBitAnd groupBitmap groupBitmapAnd groupBitmapOr groupBitmapXor groupBitOr
    groupBitXor groupConcat groupUniqArray histogram intervalLengthSum kolmogorovSmirnovTest kurtPop
    kurtSamp lag lagInFrame largestTriangleThreeBuckets last_value last_value_respect_nulls
    lastValueRespectNulls lead leadInFrame lttb mannWhitneyUTest max max_by maxIntersections
    maxIntersectionsPosition maxMappedArrays meanZTest median medianBFloat16 medianBFloat16Weighted
    medianDD medianDeterministic medianExact medianExactHigh medianExactLow medianExactWeighted
    medianExactWeightedInterpolated medianGK medianInterpolatedWeighted medianTDigest
    medianTDigestWeighted medianTiming medianTimingWeighted mergedJSONPatch min min_by minMappedArrays
    MVTEncode nonNegativeDerivative nth_value ntile percent_rank percentRank quantile quantileBFloat16
    quantileBFloat16Weighted quantileDD quantileDeterministic quantileExact quantileExactExclusive
    quantileExactHigh quantileExactInclusive quantileExactLow quantileExactWeighted
    quantileExactWeightedInterpolated quantileGK quantileInterpolatedWeighted
    quantilePrometheusHistogram quantiles quantilesBFloat16 quantilesBFloat16Weighted quantilesDD
    quantilesDeterministic quantilesExact quantilesExactExclusive quantilesExactHigh
    quantilesExactInclusive quantilesExactLow quantilesExactWeighted quantilesExactWeightedInterpolated
    quantilesGK quantilesInterpolatedWeighted quantilesPrometheusHistogram quantilesTDigest
    quantilesTDigestWeighted quantilesTiming quantilesTimingWeighted quantileTDigest
    quantileTDigestWeighted quantileTiming quantileTimingWeighted rank rankCorr regr_avgx regr_avgy
    regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy retention row_number
    sequenceCount sequenceMatch sequenceMatchEvents sequenceNextNode simpleLinearRegression
    singleValueOrNull skewPop skewSamp sparkBar sparkbar ST_AsMVT STD STDDEV STDDEV_POP STDDEV_SAMP
    stddevPop stddevPopStable stddevSamp stddevSampStable string_agg studentTTest studentTTestOneSample
    sum sumCount sumKahan sumMapFiltered sumMapFilteredWithOverflow sumMappedArrays sumMapWithOverflow
    sumWithOverflow theilsU topK topKWeighted uniq uniqCombined uniqCombined64 uniqExact uniqHLL12
    uniqUpTo VAR_POP VAR_SAMP varPop varPopStable varSamp varSampStable welchTTest windowFunnel
    """
)

SCALAR_FUNCTION_NAMES = _names(
    """
    #Arithmetic
    abs avg2 byteSwap divide divideDecimal divideOrNull gcd ifNotFinite intDiv intDivOrNull intDivOrZero
    isFinite isInfinite isNaN lcm max2 midpoint min2 minus mod modOrNull modulo moduloLegacy
    moduloOrNull moduloOrZero multiply multiplyDecimal negate plus pmod pmodOrNull positive_modulo
    positive_modulo_or_null positiveModulo positiveModuloOrNull sqr
    #Arrays
    array array_remove arrayAll arrayAUC arrayAUCPR arrayAutocorrelation arrayAvg arrayBottomK
    arrayCompact arrayConcat arrayCount arrayCumSum arrayCumSumNonNegative arrayDifference arrayDistinct
    arrayDotProduct arrayElement arrayElementOrNull arrayEnumerate arrayEnumerateDense
    arrayEnumerateDenseRanked arrayEnumerateUniq arrayEnumerateUniqRanked arrayExcept arrayExists
    arrayFill arrayFilter arrayFirst arrayFirstIndex arrayFirstOrNull arrayFlatten arrayFlattenedLength
    arrayFold arrayIntersect arrayJaccardIndex arrayJoin arrayLast arrayLastIndex arrayLastOrNull
    arrayLevenshteinDistance arrayLevenshteinDistanceWeighted arrayMap arrayMax arrayMin
    arrayNormalizedGini arrayPartialReverseSort arrayPartialShuffle arrayPartialSort arrayPopBack
    arrayPopFront arrayPRAUC arrayProduct arrayPushBack arrayPushFront arrayRandomSample arrayReduce
    arrayReduceInRanges arrayRemove arrayResize arrayReverse arrayReverseFill arrayReverseSort
    arrayReverseSplit arrayROCAUC arrayRotateLeft arrayRotateRight arrayShiftLeft arrayShiftRight
    arrayShingles arrayShuffle arraySimilarity arraySlice arraySort arraySplit arraySum
    arraySymmetricDifference arrayTopK arrayTranspose arrayUnion arrayUniq arrayWithConstant arrayZip
    arrayZipUnaligned CARDINALITY countEqual empty emptyArrayDate emptyArrayDateTime emptyArrayFloat32
    emptyArrayFloat64 emptyArrayInt16 emptyArrayInt32 emptyArrayInt64 emptyArrayInt8 emptyArrayString
    emptyArrayToSingle emptyArrayUInt16 emptyArrayUInt32 emptyArrayUInt64 emptyArrayUInt8 flatten has
    hasAll hasAny hasSubstr indexOf indexOfAssumeSorted length notEmpty notHas OCTET_LENGTH
    randomHadamardTransform range replicate reverse unnest
    #Bit
    bitAnd bitCount bitHammingDistance bitNot bitOr bitRotateLeft bitRotateRight bitShiftLeft
    bitShiftRight bitSlice bitTest bitTestAll bitTestAny bitXor
    #Bitmap
    bitmapAnd bitmapAndCardinality bitmapAndnot bitmapAndnotCardinality bitmapBuild bitmapCardinality
    bitmapContains bitmapHasAll bitmapHasAny bitmapMax bitmapMin bitmapOr bitmapOrCardinality
    bitmapSubsetInRange bitmapSubsetLimit bitmapToArray bitmapTransform bitmapXor bitmapXorCardinality
    subBitmap
    #Comparison
    equals greater greaterOrEquals isDistinctFrom isNotDistinctFrom less lessOrEquals notEquals
    #Conditional
    caseWithoutExpr caseWithoutExpression clamp greatest if least multiIf
    #Dates_and_Times
    addDate addDays addHours addInterval addMicroseconds addMilliseconds addMinutes addMonths
    addNanoseconds addQuarters addSeconds addTupleOfIntervals addWeeks addYears age changeDay changeHour
    changeMinute changeMonth changeSecond changeYear curdate current_date current_timestamp date_bin
    DATE_DIFF date_diff DATE_FORMAT DATE_TRUNC dateDiff dateName dateTrunc DAY DAYOFMONTH DAYOFWEEK
    DAYOFYEAR formatDateTime formatDateTimeInJodaSyntax FROM_DAYS FROM_UNIXTIME from_utc_timestamp
    fromDaysSinceYearZero fromDaysSinceYearZero32 fromModifiedJulianDay fromModifiedJulianDayOrNull
    fromUnixTimestamp fromUnixTimestampInJodaSyntax fromUTCTimestamp HOUR LAST_DAY localtime
    localtimestamp makeDate makeDate32 makeDateTime makeDateTime64 MICROSECOND MILLISECOND MINUTE MONTH
    monthName NANOSECOND now now64 nowInBlock nowInBlock64 QUARTER SECOND subDate subtractDays
    subtractHours subtractInterval subtractMicroseconds subtractMilliseconds subtractMinutes
    subtractMonths subtractNanoseconds subtractQuarters subtractSeconds subtractTupleOfIntervals
    subtractWeeks subtractYears time_bucket timeDiff timeSlot timeSlots timestamp TIMESTAMP_DIFF
    timestamp_diff timestampDiff timezone timeZone timezoneOf timeZoneOf timeZoneOffset timezoneOffset
    TO_DAYS to_utc_timestamp today toDayOfMonth toDayOfWeek toDayOfYear toDaysInMonth
    toDaysSinceYearZero toHour toISOWeek toISOYear toLastDayOfMonth toLastDayOfWeek toMicrosecond
    toMillisecond toMinute toModifiedJulianDay toModifiedJulianDayOrNull toMonday toMonth
    toMonthNumSinceEpoch toNanosecond toQuarter toRelativeDayNum toRelativeHourNum toRelativeMinuteNum
    toRelativeMonthNum toRelativeQuarterNum toRelativeSecondNum toRelativeWeekNum toRelativeYearNum
    toSecond toStartOfDay toStartOfFifteenMinutes toStartOfFiveMinute toStartOfFiveMinutes toStartOfHour
    toStartOfInterval toStartOfISOYear toStartOfMicrosecond toStartOfMillisecond toStartOfMinute
    toStartOfMonth toStartOfNanosecond toStartOfQuarter toStartOfSecond toStartOfTenMinutes
    toStartOfWeek toStartOfYear toTimeWithFixedDate toTimeZone toTimezone toUnixTimestamp toUTCTimestamp
    toWeek toYear toYearNumSinceEpoch toYearWeek toYYYYMM toYYYYMMDD toYYYYMMDDhhmmss UTC_timestamp
    UTCTimestamp week YEAR yearweek yesterday YYYYMMDDhhmmssToDateTime YYYYMMDDhhmmssToDateTime64
    YYYYMMDDToDate YYYYMMDDToDate32
    #Distance
    cosineDistance cosineDistanceTransposed cosineDistanceTransposedQuantized distanceCosine
    distanceCosineTransposed distanceL1 distanceL2 distanceL2Squared distanceL2Transposed distanceLinf
    distanceLp dotProductTransposed dotProductTransposedQuantized L1Distance L1Norm L1Normalize
    L2Distance L2DistanceTransposed L2DistanceTransposedQuantized L2Norm L2Normalize L2SquaredDistance
    L2SquaredNorm LinfDistance LinfNorm LinfNormalize LpDistance LpNorm LpNormalize normalizeL1
    normalizeL2 normalizeLinf normalizeLp normL1 normL2 normL2Squared normLinf normLp
    scalarProductTransposed
    #Encoding
    bin bitmaskToArray bitmaskToList bitPositionsToArray char hex hilbertDecode hilbertEncode
    mortonDecode mortonEncode sqid sqidDecode sqidEncode unbin unhex
    #Financial
    financialInternalRateOfReturn financialInternalRateOfReturnExtended financialNetPresentValue
    financialNetPresentValueExtended
    #Geo
    areaCartesian areaSpherical geoDistance geohashDecode geohashEncode geohashesInBox
    geometryIntersectCartesian geometryIntersectSpherical geoToH3 geoToMGRS geoToUTM greatCircleAngle
    greatCircleDistance h3CellAreaM2 h3CellAreaRads2 h3Distance h3EdgeAngle h3EdgeLengthKm h3EdgeLengthM
    h3ExactEdgeLengthKm h3ExactEdgeLengthM h3ExactEdgeLengthRads h3GetBaseCell
    h3GetDestinationIndexFromUnidirectionalEdge h3GetFaces h3GetIndexesFromUnidirectionalEdge
    h3GetOriginIndexFromUnidirectionalEdge h3GetPentagonIndexes h3GetRes0Indexes h3GetResolution
    h3GetUnidirectionalEdge h3GetUnidirectionalEdgeBoundary h3GetUnidirectionalEdgesFromHexagon
    h3HexAreaKm2 h3HexAreaM2 h3HexRing h3IndexesAreNeighbors h3IsPentagon h3IsResClassIII h3IsValid
    h3kRing h3Line h3NumHexagons h3PointDistKm h3PointDistM h3PointDistRads h3PolygonToCells
    h3PolygonToCellsWithContainment h3ToCenterChild h3ToChildren h3ToGeo h3ToGeoBoundary h3ToParent
    h3ToString h3UnidirectionalEdgeIsValid MGRSToGeo MVTBoundingBox MVTBoundingBoxMercator
    perimeterCartesian perimeterSpherical pointInEllipses pointInPolygon polygonsIntersectCartesian
    polygonsIntersectSpherical readWKB readWkb readWKT readWkt stringToH3 svg SVG UTMToGeo wkb WKB wkt
    WKT
    #Geo_Polygon
    MVTEncodeGeom polygonAreaCartesian polygonAreaSpherical polygonConvexHullCartesian
    polygonPerimeterCartesian polygonPerimeterSpherical polygonsDistanceCartesian
    polygonsDistanceSpherical polygonsEqualsCartesian polygonsIntersectionCartesian
    polygonsIntersectionSpherical polygonsSymDifferenceCartesian polygonsSymDifferenceSpherical
    polygonsUnionCartesian polygonsUnionSpherical polygonsWithinCartesian polygonsWithinSpherical
    readWKBLineString readWKBMultiLineString readWKBMultiPoint readWKBMultiPolygon readWKBPoint
    readWKBPolygon readWKTLineString readWKTMultiLineString readWKTMultiPoint readWKTMultiPolygon
    readWKTPoint readWKTPolygon readWKTRing ST_AsMVTGeom ST_LineFromWKB ST_MLineFromWKB ST_MPointFromWKB
    ST_MPolyFromWKB ST_PointFromWKB ST_PolyFromWKB
    #Hash
    cityHash64 farmFingerprint64 farmHash64 gccMurmurHash halfMD5 hiveHash icebergHash intHash32
    intHash64 javaHash javaHashUTF16LE jumpConsistentHash kafkaMurmurHash keccak256 kostikConsistentHash
    MD4 MD5 metroHash64 murmurHash2_32 murmurHash2_64 murmurHash3_128 murmurHash3_32 murmurHash3_64
    ngramMinHash ngramMinHashArg ngramMinHashArgCaseInsensitive ngramMinHashArgCaseInsensitiveUTF8
    ngramMinHashArgUTF8 ngramMinHashCaseInsensitive ngramMinHashCaseInsensitiveUTF8 ngramMinHashUTF8
    ngramSimHash ngramSimHashCaseInsensitive ngramSimHashCaseInsensitiveUTF8 ngramSimHashUTF8 RIPEMD160
    SHA1 SHA224 SHA256 SHA384 SHA512 SHA512_256 sipHash128 sipHash128Keyed sipHash128Reference
    sipHash128ReferenceKeyed sipHash64 sipHash64Keyed URLHash wordShingleMinHash wordShingleMinHashArg
    wordShingleMinHashArgCaseInsensitive wordShingleMinHashArgCaseInsensitiveUTF8
    wordShingleMinHashArgUTF8 wordShingleMinHashCaseInsensitive wordShingleMinHashCaseInsensitiveUTF8
    wordShingleMinHashUTF8 wordShingleSimHash wordShingleSimHashCaseInsensitive
    wordShingleSimHashCaseInsensitiveUTF8 wordShingleSimHashUTF8 wyHash64 xxh3 xxh3_128 xxHash32
    xxHash64 xxHash64Spark yandexConsistentHash
    #IP_Address
    cutIPv6 INET6_ATON INET6_NTOA INET_ATON INET_NTOA IPv4CIDRToRange IPv4NumToString
    IPv4NumToStringClassC IPv4StringToNum IPv4StringToNumOrDefault IPv4StringToNumOrNull IPv4ToIPv6
    IPv6CIDRToRange IPv6NumToString IPv6StringToNum IPv6StringToNumOrDefault IPv6StringToNumOrNull
    isIPAddressInRange isIPv4String isIPv6String toIPv4 toIPv4OrDefault toIPv4OrNull toIPv4OrZero toIPv6
    toIPv6OrDefault toIPv6OrNull toIPv6OrZero
    #JSON
    dynamicElement dynamicType isDynamicElementInSharedData isValidJSON JSON_ARRAY_LENGTH JSON_EXISTS
    JSON_QUERY JSON_VALUE JSONAllPaths JSONAllPathsWithTypes JSONAllValues JSONArrayLength
    JSONDynamicPaths JSONDynamicPathsWithTypes JSONExtract JSONExtractArrayRaw
    JSONExtractArrayRawCaseInsensitive JSONExtractBool JSONExtractBoolCaseInsensitive
    JSONExtractCaseInsensitive JSONExtractFloat JSONExtractFloatCaseInsensitive JSONExtractInt
    JSONExtractIntCaseInsensitive JSONExtractKeys JSONExtractKeysAndValues
    JSONExtractKeysAndValuesCaseInsensitive JSONExtractKeysAndValuesRaw
    JSONExtractKeysAndValuesRawCaseInsensitive JSONExtractKeysCaseInsensitive JSONExtractRaw
    JSONExtractRawCaseInsensitive JSONExtractString JSONExtractStringCaseInsensitive JSONExtractUInt
    JSONExtractUIntCaseInsensitive JSONHas JSONKey JSONLength jsonMergePatch JSONMergePatch
    JSONSharedDataPaths JSONSharedDataPathsWithTypes JSONType prettyPrintJSON simpleJSONExtractBool
    simpleJSONExtractFloat simpleJSONExtractInt simpleJSONExtractRaw simpleJSONExtractString
    simpleJSONExtractUInt simpleJSONHas toJSONString visitParamExtractBool visitParamExtractFloat
    visitParamExtractInt visitParamExtractRaw visitParamExtractString visitParamExtractUInt
    visitParamHas
    #Logical
    and not or xor
    #Map
    extractKeyValuePairs extractKeyValuePairsWithEscaping map MAP_FROM_ARRAYS mapAdd mapAll mapApply
    mapConcat mapContains mapContainsKey mapContainsKeyLike mapContainsValue mapContainsValueLike
    mapExists mapExtractKeyLike mapExtractValueLike mapFilter mapFromArrays mapFromString mapKeys
    mapPartialReverseSort mapPartialSort mapPopulateSeries mapReverseSort mapSort mapSubtract mapUpdate
    mapValues str_to_map
    #Mathematical
    acos acosh asin asinh atan atan2 atanh cbrt cos cosh degrees e erf erfc exp exp10 exp2 factorial
    hypot intExp10 intExp2 isPrime isProbablePrime lgamma ln log log10 log1p log2 pi pow power
    proportionsZTest radians sigmoid sign sin sinh sqrt tan tanh tgamma width_bucket widthBucket
    #Null
    assumeNotNull coalesce firstNonDefault ifNull isNotNull isNull isNullable isZeroOrNull nullIf
    toNullable
    #Other
    bar blockSize byteSize colorOKLABToSRGB colorOKLCHToSRGB colorSRGBToOKLAB colorSRGBToOKLCH
    countDigits defaultValueOfArgumentType defaultValueOfTypeName errorCodeToName finalizeAggregation
    flipCoordinates FORMAT_BYTES formatReadableDecimalSize formatReadableQuantity formatReadableSize
    formatReadableTimeDelta getSizeOfEnumType getSubcolumn identity ignore initializeAggregation
    isConstant isDecimalOverflow MACNumToString MACStringToNum MACStringToOUI materialize
    minSampleSizeContinous minSampleSizeContinuous minSampleSizeConversion parseISO8601Duration
    parseReadableSize parseReadableSizeOrNull parseReadableSizeOrZero parseTimeDelta
    rowNumberInAllBlocks rowNumberInBlock runningAccumulate runningConcurrency runningDifference
    runningDifferenceStartingWithFirstValue throwIf toColumnTypeName toTypeName transform variantElement
    variantType visibleWidth
    #Random_Number
    fuzzBits rand rand32 rand64 randBernoulli randBinomial randCanonical randChiSquared randConstant
    randExponential randFisherF randLogNormal randNegativeBinomial randNormal randomFixedString
    randomPrintableASCII randomString randomStringUTF8 randPoisson randStudentT randUniform
    #Rounding
    ceil ceiling floor round roundAge roundBankers roundDown roundDuration roundToExp2 trunc truncate
    #String
    appendTrailingCharIfAbsent ascii base32Decode base32Encode base58Decode base58Encode base64Decode
    base64Encode base64URLDecode base64URLEncode basename byteHammingDistance byteSlice caseFoldUTF8
    CHAR_LENGTH CHARACTER_LENGTH compareSubstrings concat concat_ws concatAssumeInjective
    concatWithSeparator concatWithSeparatorAssumeInjective conv convertCharset CRC32 CRC32IEEE CRC64
    damerauLevenshteinDistance decodeHTMLComponent decodeXMLComponent editDistance editDistanceUTF8
    encodeXMLComponent endsWith endsWithCaseInsensitive endsWithCaseInsensitiveUTF8 endsWithUTF8
    extractTextFromHTML firstLine FROM_BASE64 initcap initcapUTF8 isASCII isValidASCII isValidUTF8
    jaroSimilarity jaroWinklerSimilarity lcase left leftPad leftPadUTF8 leftUTF8 lengthUTF8
    levenshteinDistance levenshteinDistanceUTF8 lower lowerUTF8 lpad ltrim mid mismatches
    NATURAL_SORT_KEY naturalSortKey normalizeUTF8NFC normalizeUTF8NFD normalizeUTF8NFKC
    normalizeUTF8NFKCCasefold normalizeUTF8NFKD REGEXP_EXTRACT regexp_instr REGEXP_SUBSTR regexpExtract
    regexpInstr regexpPosition removeAccentsUTF8 removeDiacriticsUTF8 repeat reverseUTF8 right rightPad
    rightPadUTF8 rightUTF8 rpad rtrim soundex space sparseGrams sparseGramsHashes sparseGramsHashesUTF8
    sparseGramsUTF8 startsWith startsWithCaseInsensitive startsWithCaseInsensitiveUTF8 startsWithUTF8
    stringBytesEntropy stringBytesUniq stringJaccardIndex stringJaccardIndexUTF8 substr substring
    SUBSTRING_INDEX substringIndex substringIndexUTF8 substringUTF8 TO_BASE64 toValidUTF8 trim trimBoth
    trimLeft trimRight tryBase32Decode tryBase58Decode tryBase64Decode tryBase64URLDecode ucase upper
    upperUTF8
    #String_Replacement
    overlay overlayUTF8 printf REGEXP_REPLACE regexpQuoteMeta replace replaceAll replaceOne
    replaceRegexpAll replaceRegexpOne translate translateUTF8
    #String_Search
    countMatches countMatchesCaseInsensitive countSubstrings countSubstringsCaseInsensitive
    countSubstringsCaseInsensitiveUTF8 extract extractAll extractAllGroupsHorizontal extractGroups
    hasAllToken hasAllTokens hasAnyToken hasAnyTokens hasPhrase hasSubsequence
    hasSubsequenceCaseInsensitive hasSubsequenceCaseInsensitiveUTF8 hasSubsequenceUTF8 hasToken
    hasTokenCaseInsensitive hasTokenCaseInsensitiveOrNull hasTokenOrNull highlight ilike instr like
    locate match matchCaseInsensitive matchPhrase multiFuzzyMatchAllIndices multiFuzzyMatchAny
    multiFuzzyMatchAnyIndex multiMatchAllIndices multiMatchAny multiMatchAnyIndex
    multiSearchAllPositions multiSearchAllPositionsCaseInsensitive
    multiSearchAllPositionsCaseInsensitiveUTF8 multiSearchAllPositionsUTF8 multiSearchAny
    multiSearchAnyCaseInsensitive multiSearchAnyCaseInsensitiveUTF8 multiSearchAnyUTF8
    multiSearchFirstIndex multiSearchFirstIndexCaseInsensitive multiSearchFirstIndexCaseInsensitiveUTF8
    multiSearchFirstIndexUTF8 multiSearchFirstPosition multiSearchFirstPositionCaseInsensitive
    multiSearchFirstPositionCaseInsensitiveUTF8 multiSearchFirstPositionUTF8 ngramDistance
    ngramDistanceCaseInsensitive ngramDistanceCaseInsensitiveUTF8 ngramDistanceUTF8 ngramSearch
    ngramSearchCaseInsensitive ngramSearchCaseInsensitiveUTF8 ngramSearchUTF8 notILike notLike notMatch
    notMatchCaseInsensitive position positionCaseInsensitive positionCaseInsensitiveUTF8 positionUTF8
    REGEXP_MATCHES
    #String_Splitting
    alphaTokens array_to_string arrayStringConcat extractAllGroups extractAllGroupsVertical
    naiveBayesNgrams ngrams reverseBySeparator splitByAlpha splitByChar splitByNonAlpha splitByRegexp
    splitByString splitByWhitespace tokens tokensForLikePattern
    #Time_Window
    hop hopEnd hopStart tumble tumbleEnd tumbleStart
    #Tuple
    dotProduct flattenTuple scalarProduct tuple tupleConcat tupleDivide tupleDivideByNumber tupleElement
    tupleHammingDistance tupleIntDiv tupleIntDivByNumber tupleIntDivOrZero tupleIntDivOrZeroByNumber
    tupleMinus tupleModulo tupleModuloByNumber tupleMultiply tupleMultiplyByNumber tupleNames
    tupleNegate tuplePlus tuplePositiveModuloByNumber tupleToNameValuePairs vectorDifference vectorSum
    #Type_Conversion
    accurateCast accurateCastOrDefault accurateCastOrNull CAST DATE fromUnixTimestamp64Micro
    fromUnixTimestamp64Milli fromUnixTimestamp64Nano fromUnixTimestamp64Second parseDateTime
    parseDateTime32BestEffort parseDateTime32BestEffortOrNull parseDateTime32BestEffortOrZero
    parseDateTime64 parseDateTime64BestEffort parseDateTime64BestEffortOrNull
    parseDateTime64BestEffortOrZero parseDateTime64BestEffortUS parseDateTime64BestEffortUSOrNull
    parseDateTime64BestEffortUSOrZero parseDateTime64InJodaSyntax parseDateTime64InJodaSyntaxOrNull
    parseDateTime64InJodaSyntaxOrZero parseDateTime64OrNull parseDateTime64OrZero
    parseDateTimeBestEffort parseDateTimeBestEffortOrNull parseDateTimeBestEffortOrZero
    parseDateTimeBestEffortUS parseDateTimeBestEffortUSOrNull parseDateTimeBestEffortUSOrZero
    parseDateTimeInJodaSyntax parseDateTimeInJodaSyntaxOrNull parseDateTimeInJodaSyntaxOrZero
    parseDateTimeOrNull parseDateTimeOrZero reinterpret reinterpretAsDate reinterpretAsDateTime
    reinterpretAsFixedString reinterpretAsFloat32 reinterpretAsFloat64 reinterpretAsInt128
    reinterpretAsInt16 reinterpretAsInt256 reinterpretAsInt32 reinterpretAsInt64 reinterpretAsInt8
    reinterpretAsString reinterpretAsUInt128 reinterpretAsUInt16 reinterpretAsUInt256
    reinterpretAsUInt32 reinterpretAsUInt64 reinterpretAsUInt8 reinterpretAsUUID str_to_date TO_UNIXTIME
    toBFloat16 toBFloat16OrNull toBFloat16OrZero toBool toDate toDate32 toDate32OrDefault toDate32OrNull
    toDate32OrZero toDateOrDefault toDateOrNull toDateOrZero toDateTime toDateTime32 toDateTime64
    toDateTime64OrDefault toDateTime64OrNull toDateTime64OrZero toDateTimeOrDefault toDateTimeOrNull
    toDateTimeOrZero toDecimal128 toDecimal128OrDefault toDecimal128OrNull toDecimal128OrZero
    toDecimal256 toDecimal256OrDefault toDecimal256OrNull toDecimal256OrZero toDecimal32
    toDecimal32OrDefault toDecimal32OrNull toDecimal32OrZero toDecimal64 toDecimal64OrDefault
    toDecimal64OrNull toDecimal64OrZero toDecimalString toFixedString toFloat32 toFloat32OrDefault
    toFloat32OrNull toFloat32OrZero toFloat64 toFloat64OrDefault toFloat64OrNull toFloat64OrZero
    toInt128 toInt128OrDefault toInt128OrNull toInt128OrZero toInt16 toInt16OrDefault toInt16OrNull
    toInt16OrZero toInt256 toInt256OrDefault toInt256OrNull toInt256OrZero toInt32 toInt32OrDefault
    toInt32OrNull toInt32OrZero toInt64 toInt64OrDefault toInt64OrNull toInt64OrZero toInt8
    toInt8OrDefault toInt8OrNull toInt8OrZero toInterval toIntervalDay toIntervalHour
    toIntervalMicrosecond toIntervalMillisecond toIntervalMinute toIntervalMonth toIntervalNanosecond
    toIntervalQuarter toIntervalSecond toIntervalWeek toIntervalYear toLowCardinality toString
    toStringCutToZero toTime toTime64 toTime64OrNull toTime64OrZero toTimeOrNull toTimeOrZero toUInt128
    toUInt128OrDefault toUInt128OrNull toUInt128OrZero toUInt16 toUInt16OrDefault toUInt16OrNull
    toUInt16OrZero toUInt256 toUInt256OrDefault toUInt256OrNull toUInt256OrZero toUInt32
    toUInt32OrDefault toUInt32OrNull toUInt32OrZero toUInt64 toUInt64OrDefault toUInt64OrNull
    toUInt64OrZero toUInt8 toUInt8OrDefault toUInt8OrNull toUInt8OrZero toUnixTimestamp64Micro
    toUnixTimestamp64Milli toUnixTimestamp64Nano toUnixTimestamp64Second toUUID toUUIDOrZero
    #URL
    cutFragment cutQueryString cutQueryStringAndFragment cutToFirstSignificantSubdomain
    cutToFirstSignificantSubdomainCustom cutToFirstSignificantSubdomainCustomRFC
    cutToFirstSignificantSubdomainCustomWithWWW cutToFirstSignificantSubdomainCustomWithWWWRFC
    cutToFirstSignificantSubdomainRFC cutToFirstSignificantSubdomainWithWWW
    cutToFirstSignificantSubdomainWithWWWRFC cutURLParameter cutWWW decodeURLComponent
    decodeURLFormComponent domain domainRFC domainWithoutWWW domainWithoutWWWRFC encodeURLComponent
    encodeURLFormComponent extractURLParameter extractURLParameterNames extractURLParameters
    firstSignificantSubdomain firstSignificantSubdomainCustom firstSignificantSubdomainCustomRFC
    firstSignificantSubdomainRFC fragment netloc path pathFull port portRFC protocol queryString
    queryStringAndFragment topLevelDomain topLevelDomainRFC URLHierarchy URLPathHierarchy
    #UUID
    dateTime64ToSnowflakeID dateTimeToSnowflakeID dateTimeToUUIDv7 generateSnowflakeID generateUUIDv4
    generateUUIDv7 snowflakeIDToDateTime snowflakeIDToDateTime64 toUUIDOrDefault toUUIDOrNull
    UUIDNumToString UUIDStringToNum UUIDToNum UUIDv7ToDateTime
    """
)

#: Aggregate-function combinator suffixes, lower-cased (``system.aggregate_function_combinators``).
AGGREGATE_COMBINATORS: tuple[str, ...] = (
    "simplestate",
    "mergestate",
    "ordefault",
    "resample",
    "distinct",
    "foreach",
    "argmax",
    "argmin",
    "ornull",
    "state",
    "merge",
    "array",
    "tuple",
    "map",
    "if",
)

#: Functions whose first argument names an aggregate function: allowed only when that argument is a string
#: literal naming an allowed aggregate function.
AGGREGATE_NAME_ARGUMENT = frozenset({"arrayreduce", "arrayreduceinranges", "initializeaggregation"})

#: Window-only functions (refused inside a row filter).
WINDOW_FUNCTION_NAMES = frozenset(
    n.lower()
    for n in (
        "row_number rank dense_rank denseRank percent_rank percentRank cume_dist ntile lag lead lagInFrame "
        "leadInFrame first_value last_value nth_value"
    ).split()
)

#: Functions that are never allowed, named for error messages and tests. The allow-list above is what
#: decides; this list documents the dangerous ones that must stay out of it.
DENIED_FUNCTIONS = _names(
    """
    file url s3 s3Cluster hdfs hdfsCluster remote remoteSecure cluster clusterAllReplicas merge loop
    dictionary dictGet dictGetString dictGetOrDefault dictGetOrNull dictHas dictGetHierarchy dictIsIn
    joinGet joinGetOrNull hasColumnInTable getSetting getSettingOrDefault getServerSetting
    getMergeTreeSetting currentDatabase currentUser currentRoles currentProfiles currentQueryID
    currentSchemas version revision uptime hostName FQDN getMacro shardNum shardCount serverUUID tcpPort
    getServerPort buildId queryID initialQueryID addressToLine addressToLineWithInlines addressToSymbol
    demangle input view viewIfPermitted viewExplain executable mysql postgresql jdbc odbc mongodb redis
    sqlite azureBlobStorage gcs iceberg deltaLake hudi paimon format formatRow generateRandom
    generateRandomStructure values mergeTreeIndex mergeTreeProjection mergeTreeAnalyzeIndexes fuzzQuery
    fuzzJSON eval sleep sleepEachRow filesystemAvailable filesystemCapacity filesystemUnreserved
    globalVariable getClientHTTPHeader in notIn globalIn globalNotIn nullIn notNullIn globalNullIn
    globalNotNullIn inIgnoreSet notInIgnoreSet neighbor indexHint aiGenerate aiClassify aiEmbed
    evalMLMethod encrypt decrypt generateSerialID transactionID python timeSeriesData
    """
)

#: Table functions allowed in FROM, with literal integer arguments and at most MAX_TABLE_FUNCTION_ROWS rows.
#: (zeros() is refused by ClickHouse at readonly = 1.)
TABLE_FUNCTIONS = frozenset({"numbers", "numbers_mt"})
MAX_TABLE_FUNCTION_ROWS = 10_000_000

#: Output formats allowed in a trailing FORMAT clause: canonical spelling.
QUERY_FORMATS = frozenset(
    {"JSON", "JSONCompact", "JSONEachRow", "NDJSON", "CSV", "CSVWithNames", "TSV", "TSVWithNames", "Parquet"}
)
#: Format aliases: canonical name each one is returned as.
FORMAT_ALIASES = {"ndjson": "JSONEachRow"}

#: Databases that are refused whatever the resolver says.
DENIED_DATABASES = frozenset({"system", "information_schema"})

#: Virtual columns of ClickHouse tables (_part, _part_offset ... leak facts about hidden rows).
VIRTUAL_COLUMNS = frozenset(
    {
        "_database",
        "_table",
        "_file",
        "_path",
        "_size",
        "_time",
        "_etag",
        "_disk_name",
        "_data_version",
        "_headers",
        "_status",
        "_distance",
        "_is_deleted",
        "_version",
        "_sign",
        "_topic",
        "_key",
        "_offset",
        "_timestamp",
        "_raw_message",
        "_error",
    }
)
VIRTUAL_COLUMN_PREFIXES = ("_part", "_block", "_row", "_sample", "_shard", "_partition", "_projection")

#: Prefix of identifiers the compiler generates; refused in user SQL.
RESERVED_PREFIX = "__roost"


def _classes(names: str) -> frozenset[type[exp.Expr]]:
    return frozenset(getattr(exp, n) for n in names.split())


#: Typed function classes sqlglot produces for allowed ClickHouse function names. Allowed only together with
#: an allowed name (``meta["clickhouse_name"]``). Each one was checked to regenerate SQL that ClickHouse runs
#: with the same result (tests/sql/test_compiler.py::test_typed_function_fidelity).
FUNCTION_CLASSES = _classes(
    """
    Abs Acos Acosh AnyValue ApproxDistinct ApproxTopK ArgMax ArgMin ArrayAgg ArrayCompact ArrayConcat
    ArrayContains ArrayDistinct ArrayExcept ArrayFilter ArrayMax ArrayMin ArrayRemove ArrayReverse
    ArraySlice ArraySum ArrayToString Ascii Asin Asinh Atan Atan2 Atanh Avg BitwiseAndAgg BitwiseOrAgg
    BitwiseXorAgg Cbrt Ceil Chr CityHash64 Coalesce Concat ConcatWs Corr Cos Cosh CosineDistance Count
    CountIf CovarPop CovarSamp CumeDist CurrentDate CurrentTimestamp Date DateBin DateDiff DateTrunc Day
    DayOfMonth DayOfWeek DayOfWeekIso DayOfYear Degrees DenseRank EndsWith Exp Explode Factorial
    FarmFingerprint FirstValue Flatten Floor FromBase64 Greatest GroupConcat Hex Hour Initcap IsInf IsNan
    JSONExtract JSONExtractScalar JarowinklerSimilarity Lag LastDay LastValue Lead Least Left Length
    Levenshtein Ln Localtime Localtimestamp Log Lower MD5Digest Max Min Minute Mod Month Monthname NthValue
    Ntile Nullif Overlay Pad ParseDatetime PercentRank Pi Pow Quantile Quarter Radians Rand Rank
    RegexpCount RegexpExtract RegexpInstr RegexpLike RegexpReplace RegexpSplit RegrAvgx RegrAvgy RegrCount
    RegrIntercept RegrR2 RegrSlope RegrSxx RegrSxy RegrSyy Repeat Replace Reverse Right Round RowNumber SHA
    SHA2 Second Sign Sin Sinh Soundex Space Split Sqrt StartsWith Stddev StddevPop StddevSamp StrPosition
    StrToDate StrToMap Struct Substring SubstringIndex Sum Tan Tanh TimeToStr Timestamp TimestampTrunc
    ToBase64 ToDays Transform Translate Trim Trunc Typeof Unhex Unnest Upper UtcTimestamp VarMap Variance
    VariancePop Week WeekOfYear WidthBucket Xor Year YearOfWeekIso
    """
)

#: Typed classes whose regenerated SQL changes meaning; rebuilt as a plain call with the caller's name.
#: ``rand()`` is generated as ``randCanonical()`` (UInt32 -> Float64).
RESTORE_AS_CALL = _classes("Rand")

#: Node classes that are query structure, operators and special syntax.
SYNTAX_CLASSES = _classes(
    """
    Select Union Intersect Except Subquery From Join Where Group Having Qualify Order Ordered Limit Offset
    LimitOptions WithFill With CTE TableAlias Table Final Window WindowSpec Star Column
    Identifier Literal RawString Null Boolean HexString Var Alias Paren Tuple Array Bracket Slice Dot Lambda Distinct
    Cube Rollup GroupingSets Exists In Between Is Like ILike Escape Not Neg BitwiseNot And Or Add Sub Mul
    Div Mod IntDiv EQ NEQ GT GTE LT LTE NullSafeEQ NullSafeNEQ DPipe Case If Cast CastToStrType TryCast
    DataType DataTypeParam Interval Extract Columns Filter RespectNulls IgnoreNulls JSONCast
    NestedJSONSelect JSONPath JSONPathKey JSONPathRoot JSONPathSubscript JSONPathWildcard Anonymous
    AnonymousAggFunc CombinedAggFunc ParameterizedAgg CombinedParameterizedAgg
    """
)

#: Classes that carry a function name the caller wrote (checked against the name allow-lists).
NAMED_CALL_CLASSES = _classes("Anonymous AnonymousAggFunc CombinedAggFunc ParameterizedAgg CombinedParameterizedAgg")

_ALLOWED_LOWER = frozenset(n.lower() for n in SCALAR_FUNCTION_NAMES | AGGREGATE_FUNCTION_NAMES)
_AGGREGATES_LOWER = frozenset(n.lower() for n in AGGREGATE_FUNCTION_NAMES)
_BARE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


MAX_FUNCTION_NAME = 128


@lru_cache(maxsize=8192)
def aggregate_base(name: str) -> str | None:
    """The allowed aggregate function that ``name`` applies combinators to (``sumIfState`` -> ``sum``)."""
    low = name.lower()
    if len(low) > MAX_FUNCTION_NAME:
        return None
    pending = [low]
    seen: set[str] = set()
    while pending:
        current = pending.pop()
        if current in _AGGREGATES_LOWER:
            return current
        for suffix in AGGREGATE_COMBINATORS:
            if current.endswith(suffix) and len(current) > len(suffix):
                base = current[: -len(suffix)]
                if base not in seen:
                    seen.add(base)
                    pending.append(base)
    return None


def is_aggregate(name: str) -> bool:
    return aggregate_base(name) is not None


def function_allowed(name: str) -> bool:
    """Whether a function written as ``name`` (any case) may be called."""
    if len(name) > MAX_FUNCTION_NAME or not _BARE_NAME.fullmatch(name):
        return False
    low = name.lower()
    return low in _ALLOWED_LOWER or aggregate_base(low) is not None
